/**
 * Leftovers of shm listeners whose process died without closing them (kill -9, OOM killer): the directory
 * `dhw-kv-PID-XXXX` under /dev/shm with its mirrors, whose tmpfs pages nobody would ever free. Like a stale
 * pid lock file: the name says who owned it, and a directory whose owner is no longer alive is removed.
 *
 * Run when a listener starts (a restarted worker cleans up after its dead predecessor) and when a same-host
 * peer leaves discovery (its lease expired: the decode worker on the host cleans up after the prefill
 * worker that was killed). A pid that is alive again (reused) keeps its directory: a later sweep, after
 * that process exits, removes it.
 */
import { readdirSync, rmSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { isProcessAlive } from '../util/process-alive.ts';

const SHM_DIR = /^dhw-kv-(\d+)-[A-Za-z0-9]+$/;

/** The directory name every shm listener makes: `dhw-kv-PID-` + mkdtemp's suffix. */
export function shmDirPrefix(pid = process.pid): string {
  return `dhw-kv-${pid}-`;
}

/** Remove one listener directory (an `shm://` address's path) if its owner is dead. True if removed. */
export function removeIfOwnerDead(dir: string): boolean {
  const match = SHM_DIR.exec(basename(dir));
  if (!match) return false;
  const pid = Number(match[1]);
  if (pid === process.pid || isProcessAlive(pid)) return false;
  rmSync(dir, { recursive: true, force: true });
  return true;
}

/** Remove every dead owner's listener directory under `base`. Returns the paths removed. */
export function sweepStaleShmDirs(base: string): string[] {
  let names: string[];
  try {
    names = readdirSync(base);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names) {
    const dir = join(base, name);
    try {
      if (removeIfOwnerDead(dir)) removed.push(dir);
    } catch {
      // Someone else's directory we cannot remove: not ours to worry about.
    }
  }
  return removed;
}

/** The directory an `shm://` address names, and its parent (where its siblings live). */
export function shmAddressDir(address: string): { dir: string; base: string } {
  const dir = address.slice('shm://'.length);
  return { dir, base: dirname(dir) };
}
