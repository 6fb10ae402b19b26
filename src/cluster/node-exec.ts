/**
 * Running things inside a node: `ip netns exec NODE-NAMESPACE command...`, the `ssh node command` of an
 * emulated cluster. The process sees only the node's interfaces (lo and eth0) but the host's filesystem, so
 * `dhw worker` inside a node loads models from the same paths.
 *
 * A command whose first word is `dhw` runs this checkout's CLI (node + bin/dhw.mjs), so `dhw cluster run 1 --
 * dhw worker ...` works without a global install. Its environment gets ETCD_ENDPOINTS and NATS_SERVER pointing
 * at node 0's servers (Dynamo's variables, which the CLI reads as defaults for --etcd-endpoints and
 * --nats-server; flags still win).
 *
 * `fetchInNode` / `tcpProbeInNode` run a one-shot `node` inside the node: the host namespace has no route to
 * the cluster's subnet (by design, see names.ts), so a health check must be made from inside.
 */
import { type ChildProcess, type SpawnOptions, spawn } from 'node:child_process';
import { join } from 'node:path';
import { repoRoot } from '../util/paths.ts';
import { runCommand } from './commands.ts';
import { nodeNamespace } from './names.ts';

/** `dhw` → this checkout's CLI; anything else as given. */
export function resolveNodeArgv(argv: string[]): string[] {
  if (argv[0] === 'dhw') return [process.execPath, join(repoRoot, 'bin', 'dhw.mjs'), ...argv.slice(1)];
  return argv;
}

/** The full command line that runs `argv` in node `node` of `cluster`. */
export function nodeCommandLine(cluster: string, node: number, argv: string[]): string[] {
  return ['ip', 'netns', 'exec', nodeNamespace(cluster, node), ...resolveNodeArgv(argv)];
}

export interface RunInNodeOptions {
  /** Added to this process's environment (after ETCD_ENDPOINTS / NATS_SERVER, so it can override them). */
  env?: Record<string, string>;
  stdio?: SpawnOptions['stdio'];
  detached?: boolean;
}

/** Start `argv` in node `node`; the caller owns the child (wait for it, kill it). */
export function spawnInNode(
  cluster: string,
  node: number,
  argv: string[],
  clusterEnv: Record<string, string>,
  options: RunInNodeOptions = {},
): ChildProcess {
  const [file, ...args] = nodeCommandLine(cluster, node, argv);
  return spawn(file!, args, {
    env: { ...process.env, ...clusterEnv, ...options.env },
    stdio: options.stdio ?? 'inherit',
    detached: options.detached,
  });
}

export interface NodeFetchResult {
  status?: number;
  body?: string;
  /** Set when no HTTP answer came back (refused, unreachable, timed out). */
  error?: string;
}

// Runs in a fresh `node` inside the namespace: fetch one URL, print {status, body} or {error} as JSON.
const FETCH_SCRIPT = `
const [url, method, body, timeoutMs] = process.argv.slice(1);
try {
  const res = await fetch(url, { method, body: body || undefined,
    headers: body ? { 'content-type': 'application/json' } : undefined,
    signal: AbortSignal.timeout(Number(timeoutMs)) });
  process.stdout.write(JSON.stringify({ status: res.status, body: await res.text() }));
} catch (err) {
  process.stdout.write(JSON.stringify({ error: String(err?.cause?.message ?? err?.message ?? err) }));
}`;

/** One HTTP request made from inside node `node` (GET, or POST of a JSON body). */
export async function fetchInNode(
  cluster: string,
  node: number,
  url: string,
  init: { method?: string; body?: string; timeoutMs?: number } = {},
): Promise<NodeFetchResult> {
  const timeoutMs = init.timeoutMs ?? 5000;
  const result = await runCommand(
    'ip',
    nodeCommandLine(cluster, node, [
      process.execPath,
      '--input-type=module',
      '-e',
      FETCH_SCRIPT,
      url,
      init.method ?? (init.body ? 'POST' : 'GET'),
      init.body ?? '',
      String(timeoutMs),
    ]).slice(1),
    timeoutMs + 10_000,
  );
  if (result.code !== 0) return { error: result.stderr.trim() || `exit ${result.code}` };
  try {
    return JSON.parse(result.stdout) as NodeFetchResult;
  } catch {
    return { error: `unreadable probe output: ${result.stdout.slice(0, 200)}` };
  }
}

// Connect to host:port once; print "ok" or the error code (ECONNREFUSED, EHOSTUNREACH, ETIMEDOUT).
const TCP_SCRIPT = `
import { connect } from 'node:net';
const [host, port, timeoutMs] = process.argv.slice(1);
const socket = connect({ host, port: Number(port) });
socket.setTimeout(Number(timeoutMs), () => { process.stdout.write('ETIMEDOUT'); socket.destroy(); });
socket.on('connect', () => { process.stdout.write('ok'); socket.destroy(); });
socket.on('error', (err) => process.stdout.write(err.code ?? err.message));`;

/** Does host:port accept a TCP connection from inside node `node`? "ok" or the error code. */
export async function tcpProbeInNode(
  cluster: string,
  node: number,
  host: string,
  port: number,
  timeoutMs = 2000,
): Promise<string> {
  const result = await runCommand(
    'ip',
    nodeCommandLine(cluster, node, [
      process.execPath,
      '--input-type=module',
      '-e',
      TCP_SCRIPT,
      host,
      String(port),
      String(timeoutMs),
    ]).slice(1),
    timeoutMs + 10_000,
  );
  return result.stdout.trim() || result.stderr.trim() || `exit ${result.code}`;
}

/** Every pid running inside `namespace` (`ip netns pids`). */
export async function namespacePids(namespace: string): Promise<number[]> {
  const result = await runCommand('ip', ['netns', 'pids', namespace]);
  if (result.code !== 0) return [];
  return result.stdout
    .split('\n')
    .map((line) => Number(line.trim()))
    .filter((pid) => Number.isInteger(pid) && pid > 0);
}
