/**
 * Lifecycle helpers for tests that start servers: start several at once, all or none; and child processes
 * that never outlive the test process. A leaked worker (its timers retrying a stopped etcd every 2 s)
 * keeps a test file alive after its tests ended, and a leaked child process outlives the run.
 */
import type { ChildProcess } from 'node:child_process';
import { forgetChild, reapOnExit } from '../child-reaper.ts';

/** Anything a test starts and must stop: a worker or a `dhw` child process (`stop`), a frontend (`close`). */
export type Stoppable = { stop(): Promise<unknown> } | { close(): Promise<unknown> };

function stopOne(server: Stoppable): Promise<unknown> {
  return 'stop' in server ? server.stop() : server.close();
}

/**
 * Start several servers concurrently, all or none (like a transaction's rollback): when one fails to start,
 * stop the ones that did, then throw the first failure. A plain `Promise.all` leaves those running with no
 * handle left to stop them, so no `after` hook can.
 */
export async function startAll<const P extends readonly Promise<Stoppable>[]>(
  starts: P,
): Promise<{ -readonly [K in keyof P]: Awaited<P[K]> }> {
  const settled = await Promise.allSettled(starts);
  const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (!failed) return settled.map((s) => (s as PromiseFulfilledResult<Stoppable>).value) as never;
  await Promise.allSettled(settled.flatMap((s) => (s.status === 'fulfilled' ? [stopOne(s.value)] : [])));
  throw failed.reason;
}

/**
 * Kill `child` when the test process ends, however it ends (exit, the SIGTERM the test runner sends a file
 * past its timeout, kill -9): an orphaned worker would retry discovery forever.
 */
export function killWithTestProcess(child: ChildProcess): void {
  const pid = child.pid;
  if (pid === undefined) return; // it never started: `spawn` reports that as an 'error' event
  reapOnExit(pid);
  child.once('exit', () => forgetChild(pid));
}
