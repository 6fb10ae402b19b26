/**
 * A local stack of `dhw` PROCESSES for benchmarks that must measure the frontend's own process (its RSS,
 * its event loop): `--workers` workers and one `dhw frontend`, joined through file discovery in a temporary
 * folder, memory events, the TCP request plane. Children still running when this process exits are killed.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '../../src/util/paths.ts';

const DHW = join(repoRoot, 'bin', 'dhw.mjs');
const RUN_TS = join(repoRoot, 'bin', 'run-ts.mjs');
const children = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of children) child.kill('SIGKILL');
});

export interface DhwChild {
  child: ChildProcess;
  ready: RegExpExecArray;
  output(): string;
  exited: Promise<number | null>;
  /** SIGTERM, then SIGKILL after 10 s; resolves with the exit code. */
  stop(): Promise<number | null>;
}

/**
 * Start `dhw ARGS`; resolves once its output matches `ready` (throws with the output if it exits first).
 * `nodeArgs` go to node before the script (e.g. `--cpu-prof --cpu-prof-dir DIR`).
 */
export function spawnDhw(
  args: string[],
  ready: RegExp,
  timeoutMs = 60_000,
  nodeArgs: string[] = [],
): Promise<DhwChild> {
  return spawnNode([...nodeArgs, DHW, ...args], ready, timeoutMs);
}

/** A TypeScript file as its own process (`node bin/run-ts.mjs FILE ARGS`), e.g. a benchmark's bare server. */
export function spawnTs(fileAndArgs: string[], ready: RegExp, timeoutMs = 60_000): Promise<DhwChild> {
  return spawnNode([RUN_TS, ...fileAndArgs], ready, timeoutMs);
}

async function spawnNode(argv: string[], ready: RegExp, timeoutMs: number): Promise<DhwChild> {
  const child = spawn(process.execPath, argv, { stdio: ['ignore', 'pipe', 'pipe'], cwd: repoRoot });
  children.add(child);
  let out = '';
  child.stdout?.on('data', (d) => (out += d));
  child.stderr?.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((resolve) =>
    child.on('exit', (code) => {
      children.delete(child);
      resolve(code);
    }),
  );
  const deadline = Date.now() + timeoutMs;
  let match = ready.exec(out);
  while (!match) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`${argv.join(' ')} did not start:\n${out}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 25));
    match = ready.exec(out);
  }
  const stop = async (): Promise<number | null> => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    const code = await exited;
    clearTimeout(timer);
    return code;
  };
  return { child, ready: match, output: () => out, exited, stop };
}

export interface LocalStack {
  /** The frontend's base URL, e.g. http://127.0.0.1:PORT (the OpenAI base is `${url}/v1`). */
  url: string;
  port: number;
  frontend: DhwChild;
  workers: DhwChild[];
  /** The frontend process's resident memory, bytes. */
  rss(): number;
  close(): Promise<void>;
}

/**
 * `workers` × `dhw worker WORKER_ARGS` and `dhw frontend FRONTEND_ARGS`, ready once every worker is routable.
 * `nodeArgs` are given to node in every process (profiling flags).
 */
export async function startLocalStack(options: {
  workers: number;
  workerArgs: string[];
  frontendArgs: string[];
  nodeArgs?: string[];
  /** Extra node flags for the frontend process only (e.g. V8 heap sizing), after `nodeArgs`. */
  frontendNodeArgs?: string[];
}): Promise<LocalStack> {
  const nodeArgs = options.nodeArgs ?? [];
  const dir = mkdtempSync(join(tmpdir(), 'dhw-bench-stack-'));
  const namespace = `b${randomBytes(4).toString('hex')}`;
  const shared = [
    '--discovery',
    'file',
    '--discovery-dir',
    dir,
    '--namespace',
    namespace,
    '--events',
    'memory',
  ];
  const workers: DhwChild[] = [];
  for (let i = 0; i < options.workers; i++) {
    workers.push(
      await spawnDhw(
        ['worker', ...shared, '--canary-interval', '0', '--log-level', 'warn', ...options.workerArgs],
        /Worker [0-9a-f]+ serving/,
        60_000,
        nodeArgs,
      ),
    );
  }
  const frontend = await spawnDhw(
    ['frontend', ...shared, '--host', '127.0.0.1', '--port', '0', ...options.frontendArgs],
    /Frontend at (http:\/\/\S+)\/v1/,
    60_000,
    [...nodeArgs, ...(options.frontendNodeArgs ?? [])],
  );
  const url = frontend.ready[1];
  const deadline = Date.now() + 30_000;
  for (;;) {
    const health = (await (await fetch(`${url}/health`)).json()) as { instances: unknown[] };
    if (health.instances.length >= options.workers) break;
    if (Date.now() > deadline) throw new Error(`the frontend did not see ${options.workers} worker(s)`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return {
    url,
    port: Number(new URL(url).port),
    frontend,
    workers,
    rss: () => rssOf(frontend.child.pid ?? 0),
    close: async () => {
      await frontend.stop();
      for (const worker of workers) await worker.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** VmRSS of a process, bytes (Linux /proc). */
export function rssOf(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Number(match[1]) * 1024 : 0;
}
