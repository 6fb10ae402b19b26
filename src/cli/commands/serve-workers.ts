/**
 * The workers `dhw serve` runs beside its frontend, like a process supervisor (foreman, docker-compose):
 *
 *   in-process   memory discovery: N Worker objects sharing one in-memory request plane (embedded mode)
 *   children     etcd or file discovery: N `dhw worker` child processes, their log lines forwarded with a
 *                `[worker-i]` prefix, restarted with backoff when one dies, stopped with SIGTERM (then
 *                SIGKILL) when serve exits
 *
 * A disaggregated deployment is two groups (P prefill + D decode workers, `[prefill-i]` / `[decode-i]`),
 * started group by group and supervised as one (`combineWorkers`).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { RequestPlane } from '../../runtime/request-plane/index.ts';
import { DhwError } from '../../util/errors.ts';
import type { Logger } from '../../util/logger.ts';
import { repoRoot } from '../../util/paths.ts';
import { Worker, type WorkerOptions, type WorkerRole } from '../../worker/index.ts';

export interface ServeWorkers {
  readonly count: number;
  /** Resolves with a description when any worker exits on its own (a crash; child processes are restarted). */
  readonly exited: Promise<string>;
  stop(): Promise<void>;
}

/** N workers in this process, reachable through `plane`. */
export async function startInProcessWorkers(
  count: number,
  options: WorkerOptions,
  plane: RequestPlane,
  label = 'worker',
): Promise<ServeWorkers> {
  const workers: Worker[] = [];
  try {
    for (let i = 0; i < count; i++) {
      workers.push(await Worker.start({ ...options, runtime: { ...options.runtime, requestPlane: plane } }));
    }
  } catch (err) {
    await Promise.all(workers.map((w) => w.stop({ drainMs: 0 })));
    throw err;
  }
  let stopping = false;
  const exited = Promise.race(
    workers.map((w, i) => w.exited.then((exit) => `${label}-${i + 1} stopped (${exit.reason})`)),
  ).then((why) => (stopping ? new Promise<string>(() => {}) : why));
  return {
    count,
    exited,
    stop: async () => {
      stopping = true;
      await Promise.all(workers.map((w) => w.stop()));
    },
  };
}

/**
 * Several groups supervised as one: `exited` reports the first crash in any group; `stop` stops the groups
 * in reverse start order (decode workers before the prefill workers they pull from).
 */
export function combineWorkers(groups: ServeWorkers[]): ServeWorkers {
  return {
    count: groups.reduce((sum, g) => sum + g.count, 0),
    exited: Promise.race(groups.map((g) => g.exited)),
    stop: async () => {
      for (const group of [...groups].reverse()) await group.stop();
    },
  };
}

/** A worker that exited before it was asked to. */
export class WorkerProcessError extends DhwError {}

const DHW = join(repoRoot, 'bin', 'dhw.mjs');
const STOP_GRACE_MS = 12_000;

/** Restart backoff: 1 s doubling to 30 s; a child that ran this long before dying starts again at 1 s. */
const RESTART_MIN_MS = 1000;
const RESTART_MAX_MS = 30_000;
const HEALTHY_RUN_MS = 60_000;

/**
 * N `dhw worker ARGS` children; each line of their output is logged with a `[{label}-i]` prefix. A child
 * that dies on its own is started again (like systemd's Restart=on-failure, with backoff), its exit logged;
 * `exited` still reports the first such death, which is what a start that must fail fast waits for.
 */
export function spawnWorkerProcesses(
  count: number,
  args: string[],
  log: Logger,
  label = 'worker',
): ServeWorkers {
  const children = new Map<number, ChildProcess>();
  const restartTimers = new Set<NodeJS.Timeout>();
  let stopping = false;
  let reportExit: (why: string) => void = () => {};
  const firstExit = new Promise<string>((resolve) => {
    reportExit = resolve;
  });
  const start = (i: number, delayMs: number) => {
    const name = `${label}-${i}`;
    // Own process group: a terminal's Ctrl-C reaches only serve, which then stops each worker with one
    // SIGTERM (a worker treats a second signal as "exit now, skip the drain").
    const child = spawn(process.execPath, [DHW, 'worker', ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    const startedAt = Date.now();
    children.set(i, child);
    for (const stream of [child.stdout, child.stderr]) {
      if (stream)
        createInterface({ input: stream }).on('line', (line) => process.stderr.write(`[${name}] ${line}\n`));
    }
    child.on('exit', (code, signal) => {
      const why = `${name} (pid ${child.pid}) exited: ${signal ?? `code ${code}`}`;
      if (stopping) return;
      reportExit(why);
      const ranMs = Date.now() - startedAt;
      const nextDelayMs = ranMs >= HEALTHY_RUN_MS ? RESTART_MIN_MS : Math.min(delayMs * 2, RESTART_MAX_MS);
      const waitMs = ranMs >= HEALTHY_RUN_MS ? RESTART_MIN_MS : delayMs;
      log.error('worker process exited; restarting it', {
        worker: name,
        pid: child.pid,
        code,
        signal,
        restartInMs: waitMs,
      });
      const timer = setTimeout(() => {
        restartTimers.delete(timer);
        if (!stopping) start(i, nextDelayMs);
      }, waitMs);
      restartTimers.add(timer);
    });
    log.info('worker process started', { worker: name, pid: child.pid });
  };
  for (let i = 1; i <= count; i++) start(i, RESTART_MIN_MS);
  return {
    count,
    exited: firstExit.then((why) => (stopping ? new Promise<string>(() => {}) : why)),
    stop: async () => {
      stopping = true;
      for (const timer of restartTimers) clearTimeout(timer);
      await Promise.all([...children.values()].map((child) => stopChild(child)));
    },
  };
}

/** SIGTERM (the worker drains), then SIGKILL if it is still there after the grace period. */
async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
  await gone;
  clearTimeout(timer);
}

/** One group of identical workers: `--workers N` is one aggregated group; disaggregated is two. */
export interface WorkerGroup {
  role: WorkerRole;
  count: number;
}

/** "2 worker(s)", "1 prefill + 2 decode worker(s)" */
export function describeGroups(groups: WorkerGroup[]): string {
  if (groups.length === 1 && groups[0]?.role === 'aggregated') return `${groups[0].count} worker(s)`;
  return groups.map((g) => `${g.count} ${g.role}`).join(' + ') + ' worker(s)';
}

/** Resolves once `ready()` holds, or rejects when a worker exits first or the deadline passes. */
export async function waitForWorkers(
  ready: () => string | undefined,
  workers: ServeWorkers,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let crashed: string | undefined;
  void workers.exited.then((why) => (crashed = why));
  for (let missing = ready(); missing !== undefined; missing = ready()) {
    if (crashed)
      throw new WorkerProcessError(
        `a worker failed to start: ${crashed} (see its [worker-i], [prefill-i] or [decode-i] lines above)`,
      );
    if (Date.now() > deadline) {
      throw new WorkerProcessError(`${missing} within ${timeoutMs / 1000} s`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/**
 * What is still missing before serving, as the frontend sees it: decode/aggregated workers it routes
 * requests to, and prefill workers in its prefill pools (users never reach those directly). undefined once
 * everything is there.
 */
export function missingWorkers(
  groups: WorkerGroup[],
  seen: { routable: number; prefill: number },
): string | undefined {
  const wanted = (roles: WorkerRole[]) =>
    groups.filter((g) => roles.includes(g.role)).reduce((sum, g) => sum + g.count, 0);
  const servers = wanted(['aggregated', 'decode']);
  const prefill = wanted(['prefill']);
  if (seen.routable < servers) return `only ${seen.routable} of ${servers} workers registered`;
  if (seen.prefill < prefill) return `only ${seen.prefill} of ${prefill} prefill workers registered`;
  return undefined;
}
