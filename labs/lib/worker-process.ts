/**
 * `dhw worker` as a child process, started the way a learner types it in a second terminal, and waited for
 * until it prints its "Worker <id> serving <model> on <address>, status <url>" line. Then it can be stopped
 * politely (SIGTERM: unregister, drain, exit 0) or killed (`kill -9`: nothing runs, etcd notices only when
 * the lease's TTL runs out). Like a supervisor (systemd, foreman) that starts a service and watches for its
 * "ready" log line.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { repoRoot } from '../../src/util/paths.ts';

const DHW = join(repoRoot, 'bin', 'dhw.mjs');
const READY = /Worker ([0-9a-f]+) serving (\S+) on (\S+?), status http:\/\/[^:]+:(\d+)\/health/;

export interface WorkerProcess {
  pid: number;
  instanceId: string;
  model: string;
  /** Request-plane address ("host:port"). */
  address: string;
  /** Status port: /health, /live, /metrics. */
  systemPort: number;
  /** The "Worker ... serving ..." line. */
  readyLine: string;
  /** Milliseconds from spawn to the ready line. */
  startMs: number;
  output(): string;
  /** Resolves with the exit code (null after a signal) and signal. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGTERM, then SIGKILL after `graceMs`. */
  stop(graceMs?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** `kill -9`: no unregistering, no draining. */
  kill9(): void;
}

const running = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/** The command line as a learner would type it (`dhw` = `node bin/dhw.mjs` = `npm run dhw --`). */
export function workerCommandLine(args: readonly string[]): string {
  return `dhw worker ${args.join(' ')}`;
}

/** Start `dhw worker ARGS` and resolve once it is registered and serving. */
export async function spawnWorker(args: readonly string[], timeoutMs = 60_000): Promise<WorkerProcess> {
  const started = performance.now();
  const child = spawn(process.execPath, [DHW, 'worker', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => {
      running.delete(child);
      resolve({ code, signal });
    }),
  );
  const deadline = Date.now() + timeoutMs;
  let match = READY.exec(out);
  while (!match) {
    if (child.exitCode !== null)
      throw new Error(`dhw worker exited (${child.exitCode}) before serving:\n${out}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`dhw worker did not print its serving line within ${timeoutMs / 1000} s:\n${out}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
    match = READY.exec(out);
  }
  const [readyLine, instanceId, model, address, systemPort] = match as unknown as string[];
  return {
    pid: child.pid!,
    instanceId: instanceId!,
    model: model!,
    address: address!,
    systemPort: Number(systemPort),
    readyLine: readyLine!,
    startMs: performance.now() - started,
    output: () => out,
    exited,
    stop: async (graceMs = 5000) => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
        const result = await exited;
        clearTimeout(timer);
        return result;
      }
      return exited;
    },
    kill9: () => {
      child.kill('SIGKILL');
    },
  };
}
