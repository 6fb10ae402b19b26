/**
 * One server child process: spawn it, poll until it answers, stop it by pid. Like a minimal supervisor
 * (`start-stop-daemon` with a readiness probe): the caller supplies the command line and the probe.
 *
 * Attached servers (tests) log into an in-memory tail used in error messages, are unref'd so they never keep
 * the caller alive, and are killed when the caller exits (child-reaper.ts). Detached servers (`dhw infra up`)
 * get their own session, write to a log file, and outlive the caller.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import type { Readable } from 'node:stream';
import { isProcessAlive } from '../util/process-alive.ts';
import { forgetChild, reapOnExit } from './child-reaper.ts';
import { InfraError } from './errors.ts';

export interface LaunchSpec {
  /** For messages: "etcd", "nats-server". */
  name: string;
  binary: string;
  args: string[];
  /** True once the server answers its health check. Must not throw for "not yet". */
  isReady: () => Promise<boolean>;
  readyTimeoutMs?: number;
  /** Detached: own session, survives this process; output appended to `logFile`. */
  detached?: boolean;
  logFile?: string;
  /** A temp data dir to remove if this process dies without stopping the server (attached only). */
  tempDir?: string;
}

export interface RunningProcess {
  readonly pid: number;
  /** The last lines the server printed (attached servers), for error messages. */
  outputTail(): string;
  /** SIGTERM, then SIGKILL after `graceMs` (default 3000); 0 sends SIGKILL at once, like a crash. Idempotent. */
  stop(graceMs?: number): Promise<void>;
}

const TAIL_CHARS = 4000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitUntilGone(pid: number, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (isProcessAlive(pid)) {
    if (Date.now() > deadline) return false;
    await sleep(25);
  }
  return true;
}

/**
 * SIGTERM, wait up to `graceMs`, then SIGKILL; resolves when the pid is gone. Works for any pid we may signal
 * (our own children are reaped by Node as soon as they exit, detached ones by init).
 */
export async function stopPid(pid: number, graceMs = 3000): Promise<void> {
  if (!isProcessAlive(pid)) return;
  if (graceMs > 0) {
    process.kill(pid, 'SIGTERM');
    if (await waitUntilGone(pid, graceMs)) return;
  }
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    return;
  }
  if (!(await waitUntilGone(pid, 5000))) throw new InfraError(`process ${pid} survived SIGKILL for 5 s`);
}

/** A Go panic or fatal error: the line that starts its dump (the goroutine traces after it can run to 100 KB). */
const CRASH_START = /^(panic|fatal error): /m;

/**
 * The last TAIL_CHARS of the child's output; once it crashes (a Go panic, say), the start of the dump is kept
 * too, since the tail alone holds only the last goroutine's frames, not what went wrong.
 */
function collectTail(child: ChildProcess): () => string {
  let tail = '';
  let crashHead = '';
  const keep = (chunk: Buffer) => {
    const text = chunk.toString();
    if (!crashHead) {
      const at = (tail.slice(-200) + text).search(CRASH_START);
      if (at >= 0) crashHead = (tail.slice(-200) + text).slice(at, at + TAIL_CHARS);
    }
    tail = (tail + text).slice(-TAIL_CHARS);
  };
  for (const stream of [child.stdout, child.stderr] as (Readable | null)[]) {
    if (!stream) continue;
    stream.on('data', keep);
    (stream as Readable & { unref?: () => void }).unref?.();
  }
  return () => (crashHead && !tail.includes(crashHead.slice(0, 200)) ? `${crashHead}\n[...]\n${tail}` : tail);
}

function spawnChild(spec: LaunchSpec): ChildProcess {
  if (!spec.detached) return spawn(spec.binary, spec.args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const fd = openSync(spec.logFile ?? '/dev/null', 'a');
  try {
    return spawn(spec.binary, spec.args, { stdio: ['ignore', fd, fd], detached: true });
  } finally {
    closeSync(fd);
  }
}

/**
 * Stop an attached child we spawned: SIGTERM, then SIGKILL after `graceMs`, through its ChildProcess handle.
 * Node signals a child only until it has reaped it, so a stop after the child is gone (a second stop, a
 * `restart` of a server that already died) can never hit an unrelated process that reuses the pid.
 */
async function stopChild(child: ChildProcess, graceMs: number): Promise<void> {
  const gone = () => child.exitCode !== null || child.signalCode !== null;
  if (gone()) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const within = (ms: number) => Promise.race([exited.then(() => true), sleep(ms).then(() => false)]);
  if (graceMs > 0) {
    child.kill('SIGTERM');
    if (gone() || (await within(graceMs))) return;
  }
  child.kill('SIGKILL');
  if (!gone() && !(await within(5000))) throw new InfraError(`process ${child.pid} survived SIGKILL for 5 s`);
}

/**
 * An attached server that dies while nobody is stopping it takes a test (or a `dhw` process) down with
 * errors about connections; say on stderr which server died, how, and what it printed last.
 */
function reportUnexpectedExit(
  spec: LaunchSpec,
  pid: number | undefined,
  how: string,
  outputTail: () => string,
): void {
  const output = outputTail().trim();
  const crash = output.search(CRASH_START);
  // The crash's first lines say what went wrong; the last ones where it was.
  const lines = crash >= 0 ? output.slice(crash).split('\n') : output.split('\n');
  const tail =
    crash >= 0 && lines.length > 28
      ? [...lines.slice(0, 20), '[...]', ...lines.slice(-8)].join('\n')
      : lines.slice(crash >= 0 ? 0 : -8).join('\n');
  process.stderr.write(
    `[infra] ${spec.name} (pid ${pid}, ${spec.binary} ${spec.args.join(' ')}) ${how} while in use, ` +
      `not stopped by this process. Its last output:\n${tail || '(none)'}\n`,
  );
}

/** Start the server and wait until `isReady()`; throws InfraError (with its output) if it exits or times out. */
export async function launchServer(spec: LaunchSpec): Promise<RunningProcess> {
  const child = spawnChild(spec);
  const outputTail = spec.detached ? () => `(see ${spec.logFile})` : collectTail(child);
  const pid = child.pid;
  let exitInfo: string | undefined;
  let ready = false;
  let stopping = false;
  child.on('exit', (code, signal) => {
    exitInfo = `exited with ${signal ?? `code ${code}`}`;
    if (pid === undefined || spec.detached) return;
    forgetChild(pid); // gone: nothing left to reap, and its pid may be reused
    if (ready && !stopping) reportUnexpectedExit(spec, pid, exitInfo, outputTail);
  });
  child.on('error', (err) => {
    exitInfo = `could not be started: ${err.message}`;
  });
  child.unref();
  const running: RunningProcess = {
    pid: pid ?? -1,
    outputTail,
    stop: async (graceMs = 3000) => {
      if (pid === undefined) return;
      stopping = true;
      forgetChild(pid);
      // A detached server may outlive its ChildProcess handle's usefulness (`dhw infra` stops it by pid).
      if (spec.detached) await stopPid(pid, graceMs);
      else await stopChild(child, graceMs);
    },
  };
  if (pid !== undefined && !spec.detached) reapOnExit(pid, spec.tempDir);

  const timeoutMs = spec.readyTimeoutMs ?? 15_000;
  const deadline = Date.now() + timeoutMs;
  while (exitInfo === undefined) {
    if (await spec.isReady()) {
      ready = true;
      return running;
    }
    if (Date.now() > deadline) {
      await running.stop(500);
      throw new InfraError(
        `${spec.name} did not become ready within ${timeoutMs} ms (${spec.binary} ${spec.args.join(' ')}). ` +
          `Its output:\n${outputTail()}`,
      );
    }
    await sleep(50);
  }
  if (pid !== undefined) forgetChild(pid);
  throw new InfraError(
    `${spec.name} ${exitInfo} before it was ready (${spec.binary} ${spec.args.join(' ')}). ` +
      `Is the port already in use? Its output:\n${outputTail()}`,
  );
}
