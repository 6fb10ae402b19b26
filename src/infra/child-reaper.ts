/**
 * Makes sure servers started for a process die with it, like a supervisor's process group: tests never
 * leave an etcd behind.
 *
 * Three layers, because each one misses a case:
 *   - an `exit` hook SIGKILLs every tracked pid (normal exit, uncaught exception, `process.exit`);
 *   - SIGINT/SIGTERM/SIGHUP hooks do the same and exit, but only when nobody else handles that signal
 *     (a server with its own graceful shutdown ends with `exit`, which the first hook covers);
 *   - a tiny `sh` watchdog per server polls our pid once a second and kills the server when we are gone,
 *     which covers `kill -9` of this process (no hook runs then).
 * Detached servers (`dhw infra up`) are meant to outlive us and are never tracked.
 */
import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';

const tracked = new Map<number, { watchdogPid: number | undefined; tempDir: string | undefined }>();
let hooksInstalled = false;

const SIGNAL_EXIT_CODES: Partial<Record<NodeJS.Signals, number>> = { SIGINT: 130, SIGTERM: 143, SIGHUP: 129 };

function killQuietly(pid: number | undefined, signal: NodeJS.Signals): void {
  if (pid === undefined) return;
  try {
    process.kill(pid, signal);
  } catch {
    // already gone
  }
}

function killAllTracked(): void {
  for (const [pid, { watchdogPid, tempDir }] of tracked) {
    killQuietly(pid, 'SIGKILL');
    killQuietly(watchdogPid, 'SIGKILL');
    if (tempDir) rmSync(tempDir, { recursive: true, force: true });
  }
  tracked.clear();
}

function installHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  process.on('exit', killAllTracked);
  for (const [signal, code] of Object.entries(SIGNAL_EXIT_CODES) as [NodeJS.Signals, number][]) {
    process.on(signal, () => {
      if (process.listenerCount(signal) > 1) return; // someone else owns shutdown; `exit` will reap
      killAllTracked();
      process.exit(code);
    });
  }
}

/** A string as one single-quoted shell word. */
const shellQuote = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;

function startWatchdog(childPid: number, tempDir: string | undefined): number | undefined {
  const cleanup = tempDir ? `; sleep 0.2; rm -rf ${shellQuote(tempDir)}` : '';
  const script = `while kill -0 ${process.pid} 2>/dev/null && kill -0 ${childPid} 2>/dev/null; do sleep 1; done; if ! kill -0 ${process.pid} 2>/dev/null; then kill -9 ${childPid} 2>/dev/null${cleanup}; fi`;
  const watchdog = spawn('/bin/sh', ['-c', script], { detached: true, stdio: 'ignore' });
  watchdog.on('error', () => {}); // no /bin/sh: the exit hooks still cover the common cases
  watchdog.unref();
  return watchdog.pid;
}

/** Kill `pid` (and remove its `tempDir`, if given) when this process ends, however it ends. */
export function reapOnExit(pid: number, tempDir?: string): void {
  installHooks();
  tracked.set(pid, { watchdogPid: startWatchdog(pid, tempDir), tempDir });
}

/** The server was stopped on purpose: stop watching it. */
export function forgetChild(pid: number): void {
  const entry = tracked.get(pid);
  if (!entry) return;
  tracked.delete(pid);
  killQuietly(entry.watchdogPid, 'SIGKILL');
}
