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

/**
 * The full command line that runs `argv` in node `node` of `cluster`: in the node's network namespace and in
 * a UTS namespace of its own whose hostname is the node's name (`dhw-n2`), so each node is a different host
 * to whatever compares hostnames: `dhw ls`, and the transfer agent, which would otherwise take two nodes for
 * one host and move KV over a Unix socket (a file path every namespace shares), bypassing the shaped link.
 */
export function nodeCommandLine(cluster: string, node: number, argv: string[]): string[] {
  const name = nodeNamespace(cluster, node);
  // biome-ignore format: the exec chain reads left to right
  return ['ip', 'netns', 'exec', name, 'unshare', '--uts', '--', 'sh', '-c', 'hostname "$0" && exec "$@"', name, ...resolveNodeArgv(argv)];
}

export interface RunInNodeOptions {
  /** Added to this process's environment (after ETCD_ENDPOINTS / NATS_SERVER, so it can override them). */
  env?: Record<string, string>;
  stdio?: SpawnOptions['stdio'];
  detached?: boolean;
  /**
   * Run it under a restart loop (`sh`): exit 0 ends the loop, any other exit starts it again after
   * `restartDelayMs` — systemd's Restart=on-failure. How a worker that lost its lease (exit 3) comes back.
   */
  restart?: boolean;
  /** Default 1000. */
  restartDelayMs?: number;
}

/** `argv` wrapped in a sh loop that restarts it whenever it exits non-zero. */
export function supervisedArgv(argv: string[], delayMs: number): string[] {
  const seconds = (delayMs / 1000).toFixed(3);
  const loop = `while :; do "$@"; code=$?; [ "$code" -eq 0 ] && exit 0; echo "[supervisor] exit $code; restarting in ${seconds} s" >&2; sleep ${seconds}; done`;
  return ['sh', '-c', loop, 'supervise', ...argv];
}

/** Start `argv` in node `node`; the caller owns the child (wait for it, kill it). */
export function spawnInNode(
  cluster: string,
  node: number,
  argv: string[],
  clusterEnv: Record<string, string>,
  options: RunInNodeOptions = {},
): ChildProcess {
  const resolved = resolveNodeArgv(argv);
  const command = options.restart ? supervisedArgv(resolved, options.restartDelayMs ?? 1000) : resolved;
  const [file, ...args] = nodeCommandLine(cluster, node, command);
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

// A long-lived fetch agent inside a node: one JSON request per stdin line ({id, url, method, body,
// timeoutMs}), one JSON answer per stdout line ({id, status, body} or {id, error}).
const CLIENT_SCRIPT = `
import { createInterface } from 'node:readline';
const write = (answer) => process.stdout.write(JSON.stringify(answer) + '\\n');
createInterface({ input: process.stdin }).on('line', async (line) => {
  const { id, url, method, body, timeoutMs } = JSON.parse(line);
  try {
    const res = await fetch(url, { method, body: body || undefined,
      headers: body ? { 'content-type': 'application/json' } : undefined,
      signal: AbortSignal.timeout(timeoutMs) });
    write({ id, status: res.status, body: await res.text() });
  } catch (err) {
    write({ id, error: String(err?.cause?.message ?? err?.message ?? err) });
  }
});`;

/** `fetchInNode` without a process per request: for tests and labs that ask a node many times. */
export interface NodeClient {
  fetch(url: string, init?: { method?: string; body?: string; timeoutMs?: number }): Promise<NodeFetchResult>;
  close(): void;
}

/** Start one fetch agent inside node `node`; requests may overlap. `close()` ends it. */
export function openNodeClient(cluster: string, node: number): NodeClient {
  const [file, ...args] = nodeCommandLine(cluster, node, [
    process.execPath,
    '--input-type=module',
    '-e',
    CLIENT_SCRIPT,
  ]);
  const child = spawn(file!, args, { stdio: ['pipe', 'pipe', 'inherit'] });
  const pending = new Map<number, (result: NodeFetchResult) => void>();
  let nextId = 0;
  let buffered = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    buffered += chunk.toString();
    for (let nl = buffered.indexOf('\n'); nl >= 0; nl = buffered.indexOf('\n')) {
      const { id, ...result } = JSON.parse(buffered.slice(0, nl)) as NodeFetchResult & { id: number };
      buffered = buffered.slice(nl + 1);
      pending.get(id)?.(result);
      pending.delete(id);
    }
  });
  child.on('exit', (code) => {
    for (const resolve of pending.values()) resolve({ error: `node client exited (${code})` });
    pending.clear();
  });
  return {
    fetch(url, init = {}) {
      const id = nextId++;
      const request = {
        id,
        url,
        method: init.method ?? (init.body ? 'POST' : 'GET'),
        body: init.body ?? '',
        timeoutMs: init.timeoutMs ?? 5000,
      };
      return new Promise((resolve) => {
        if (child.exitCode !== null) return resolve({ error: 'node client has exited' });
        pending.set(id, resolve);
        child.stdin!.write(`${JSON.stringify(request)}\n`);
      });
    },
    close: () => {
      child.stdin!.end();
      child.kill();
    },
  };
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
