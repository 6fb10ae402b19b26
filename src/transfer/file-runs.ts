/**
 * Gather/scatter file I/O for the shared-memory backend: lists of byte views written to or read from a
 * file (in /dev/shm: page cache, no disk) with `pwritev(2)` / `preadv(2)` on libuv's thread pool, several
 * in flight. One syscall moves up to IOV_MAX views, and the kernel copies between the page cache and the
 * views directly: no user-space copy, like O_DIRECT-less storage I/O into registered buffers.
 *
 * Why several in flight: each call runs on a pool thread, so with 2+ calls outstanding the copies of
 * different runs proceed on different cores while the event loop stays free.
 *
 * Why not always: every pool call is a hand-off to a thread and back (a futex wake and an event-loop turn
 * each way), which on a busy machine costs milliseconds, more than copying a few MiB. Transfers up to
 * INLINE_IO_MAX_BYTES are done with synchronous preadv/pwritev on the calling thread instead, yielding to the
 * event loop between runs of ≤ 8 MiB (a few ms each), like a socket's reads would occupy it anyway.
 */
import { read, readSync, readv, readvSync, write, writeSync, writev, writevSync } from 'node:fs';
import { TransferProtocolError } from './errors.ts';
import { totalBytes } from './wire.ts';

/** Linux's IOV_MAX: the most scatter/gather entries one preadv/pwritev takes. */
export const MAX_VIEWS_PER_RUN = 1024;
/** Bytes per call: large enough to amortize the syscall and the pool hand-off, small enough to spread. */
export const MAX_BYTES_PER_RUN = 8 << 20;

/** Views that are contiguous in the file, starting at `position`. */
export interface FileRun {
  position: number;
  views: Uint8Array[];
}

/** Consecutive views at consecutive file offsets from `position`, cut into runs of bounded size. */
export function sequentialRuns(views: readonly Uint8Array[], position = 0): FileRun[] {
  const runs: FileRun[] = [];
  let current: FileRun | null = null;
  let bytes = 0;
  let at = position;
  for (const view of views) {
    if (view.byteLength === 0) continue;
    if (!current || current.views.length >= MAX_VIEWS_PER_RUN || bytes >= MAX_BYTES_PER_RUN) {
      current = { position: at, views: [] };
      runs.push(current);
      bytes = 0;
    }
    current.views.push(view);
    bytes += view.byteLength;
    at += view.byteLength;
  }
  return runs;
}

/** Append run `next` to `last` when it continues it in the file and the result stays within the bounds. */
export function mergeRun(runs: FileRun[], next: FileRun): void {
  const last = runs[runs.length - 1];
  if (
    last &&
    last.position + totalBytes(last.views) === next.position &&
    last.views.length + next.views.length <= MAX_VIEWS_PER_RUN &&
    totalBytes(last.views) + totalBytes(next.views) <= MAX_BYTES_PER_RUN
  ) {
    last.views.push(...next.views);
    return;
  }
  runs.push(next);
}

/** Up to this many bytes per transfer, runs are read or written on the calling thread (see above). */
export const INLINE_IO_MAX_BYTES = 64 << 20;

/** Read every run from `fd` into its views; at most `concurrency` calls in flight (small: inline). */
export function readRuns(fd: number, runs: readonly FileRun[], concurrency: number): Promise<void> {
  if (runsBytes(runs) <= INLINE_IO_MAX_BYTES) return eachRunInline(runs, (run) => ioRunSync(fd, run, 'read'));
  return eachRun(runs, concurrency, (run) => readRun(fd, run));
}

/** Write every run's views to `fd` at its position; at most `concurrency` calls in flight (small: inline). */
export function writeRuns(fd: number, runs: readonly FileRun[], concurrency: number): Promise<void> {
  if (runsBytes(runs) <= INLINE_IO_MAX_BYTES)
    return eachRunInline(runs, (run) => ioRunSync(fd, run, 'write'));
  return eachRun(runs, concurrency, (run) => writeRun(fd, run));
}

function runsBytes(runs: readonly FileRun[]): number {
  let n = 0;
  for (const run of runs) n += totalBytes(run.views);
  return n;
}

/** Runs one after another on this thread, yielding to the event loop once per MAX_BYTES_PER_RUN moved. */
async function eachRunInline(runs: readonly FileRun[], io: (run: FileRun) => number): Promise<void> {
  let sinceYield = 0;
  for (const run of runs) {
    sinceYield += io(run);
    if (sinceYield >= MAX_BYTES_PER_RUN) {
      await new Promise((resolve) => setImmediate(resolve));
      sinceYield = 0;
    }
  }
}

/** One synchronous preadv/pwritev of a run, finished view by view after a short one. Returns its bytes. */
function ioRunSync(fd: number, run: FileRun, op: 'read' | 'write'): number {
  const want = totalBytes(run.views);
  const done =
    op === 'read' ? readvSync(fd, run.views, run.position) : writevSync(fd, run.views, run.position);
  if (done < want) finishPartialSync(fd, run, done, op);
  return want;
}

function finishPartialSync(fd: number, run: FileRun, done: number, op: 'read' | 'write'): void {
  let skip = done;
  let position = run.position + done;
  for (const view of run.views) {
    if (skip >= view.byteLength) {
      skip -= view.byteLength;
      continue;
    }
    for (let offset = skip; offset < view.byteLength; ) {
      const n =
        op === 'read'
          ? readSync(fd, view, offset, view.byteLength - offset, position)
          : writeSync(fd, view, offset, view.byteLength - offset, position);
      if (n === 0) throw shortFile(position);
      offset += n;
      position += n;
    }
    skip = 0;
  }
}

function shortFile(position: number): TransferProtocolError {
  return new TransferProtocolError(
    `the shared-memory file ended at byte ${position}: the peer staged fewer bytes than it announced`,
  );
}

async function eachRun(
  runs: readonly FileRun[],
  concurrency: number,
  io: (run: FileRun) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < runs.length) await io(runs[next++] as FileRun);
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, runs.length)) }, worker));
}

/** One preadv; a short read (the file ends early) finishes with plain reads, then fails if still short. */
async function readRun(fd: number, run: FileRun): Promise<void> {
  const want = totalBytes(run.views);
  const got = await new Promise<number>((resolve, reject) =>
    readv(fd, run.views, run.position, (err, n) => (err ? reject(err) : resolve(n))),
  );
  if (got < want) await finishPartial(fd, run, got, 'read');
}

async function writeRun(fd: number, run: FileRun): Promise<void> {
  const want = totalBytes(run.views);
  const put = await new Promise<number>((resolve, reject) =>
    writev(fd, run.views, run.position, (err, n) => (err ? reject(err) : resolve(n))),
  );
  if (put < want) await finishPartial(fd, run, put, 'write');
}

/** The rest of a run after a partial preadv/pwritev, view by view (rare: signals, a full tmpfs, EOF). */
async function finishPartial(fd: number, run: FileRun, done: number, op: 'read' | 'write'): Promise<void> {
  let skip = done;
  let position = run.position + done;
  for (const view of run.views) {
    if (skip >= view.byteLength) {
      skip -= view.byteLength;
      continue;
    }
    let offset = skip;
    skip = 0;
    while (offset < view.byteLength) {
      const n = await new Promise<number>((resolve, reject) => {
        const cb = (err: NodeJS.ErrnoException | null, k: number) => (err ? reject(err) : resolve(k));
        if (op === 'read') read(fd, view, offset, view.byteLength - offset, position, cb);
        else write(fd, view, offset, view.byteLength - offset, position, cb);
      });
      if (n === 0) throw shortFile(position);
      offset += n;
      position += n;
    }
  }
}
