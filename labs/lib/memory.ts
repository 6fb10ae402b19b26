/**
 * Process memory for the labs, the CPU stand-in for watching `nvidia-smi`: resident set size (pages the OS
 * really gave us) and typed-array bytes (allocated, resident or not). `forceGc()` runs a full garbage
 * collection first so deltas measure what is still alive, not what the collector has yet to free.
 *
 * Two sources of noise, and what we do about them:
 * - the JS heap grows and shrinks on its own: `native` = rss − heapTotal leaves it out;
 * - glibc's malloc hands out freed memory again before asking the kernel for new pages, so a new buffer may
 *   not move RSS at all. `rerunWithFreshPages()` re-executes the lab with MALLOC_MMAP_THRESHOLD_ pinned, so
 *   every large buffer is its own mmap of untouched zero pages, like a GPU engine's dedicated pool.
 */
import { spawnSync } from 'node:child_process';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

export interface MemorySnapshot {
  rss: number;
  /** rss − heapTotal: resident memory outside the JS heap (typed arrays, native code, malloc). */
  native: number;
  heapUsed: number;
  /** Bytes of ArrayBuffers (typed arrays): where weights and the KV cache live. */
  arrayBuffers: number;
}

let gcFunction: (() => void) | undefined;

/** A full GC, even without `node --expose-gc` (the flag can be set at run time; a fresh context sees it). */
export function forceGc(): void {
  if (!gcFunction) {
    setFlagsFromString('--expose-gc');
    gcFunction = runInNewContext('gc') as () => void;
  }
  // Twice: typed-array backing stores are released on the second pass after their wrappers die.
  gcFunction();
  gcFunction();
}

/**
 * Memory after a full GC and a short pause: typed-array memory is returned to the OS by a background
 * sweeper thread, so a snapshot taken right after `gc()` can still count buffers that are already dead.
 */
export async function memorySnapshot(): Promise<MemorySnapshot> {
  forceGc();
  await new Promise((resolve) => setTimeout(resolve, 20));
  const { rss, heapTotal, heapUsed, arrayBuffers } = process.memoryUsage();
  return { rss, native: rss - heapTotal, heapUsed, arrayBuffers };
}

/** after − before, field by field. */
export function memoryDelta(before: MemorySnapshot, after: MemorySnapshot): MemorySnapshot {
  return {
    rss: after.rss - before.rss,
    native: after.native - before.native,
    heapUsed: after.heapUsed - before.heapUsed,
    arrayBuffers: after.arrayBuffers - before.arrayBuffers,
  };
}

const MMAP_THRESHOLD = '65536';

/**
 * On Linux, re-runs this script in a child whose malloc maps every buffer of 64 KiB or more fresh from the
 * kernel. Returns true in the parent (which should then do nothing more: the child did the work and its exit
 * status is ours), false in the child or where it does not apply.
 */
export function rerunWithFreshPages(): boolean {
  if (process.platform !== 'linux' || process.env.MALLOC_MMAP_THRESHOLD_) return false;
  const loader = process.execArgv.some((a) => a.includes('tsx')) ? [] : ['--import', 'tsx'];
  const result = spawnSync(process.execPath, [...loader, ...process.execArgv, ...process.argv.slice(1)], {
    stdio: 'inherit',
    env: { ...process.env, MALLOC_MMAP_THRESHOLD_: MMAP_THRESHOLD },
  });
  process.exitCode = result.status ?? 1;
  return true;
}
