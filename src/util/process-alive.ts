/** Liveness of another process by pid, the way `kill -0` asks: for pidfiles, locks and stale state. */

/** True while a process with this pid exists (signal 0 probes without sending anything; EPERM: another user's). */
export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
