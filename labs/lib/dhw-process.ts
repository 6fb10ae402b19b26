/**
 * Any `dhw` command as a child process (a frontend, `dhw events tail`), started the way a learner types it
 * in another terminal and waited for until it prints its ready line. Its output is kept for `grep`; it is
 * stopped with SIGTERM (or killed with SIGKILL) by its own pid. Workers have their own helper with their
 * address parsing (worker-process.ts); this is the generic one.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { repoRoot } from '../../src/util/paths.ts';

const DHW = join(repoRoot, 'bin', 'dhw.mjs');

export interface DhwProcess {
  pid: number;
  /** The ready line's match (null when started without one). */
  ready: RegExpExecArray | null;
  /** Everything it printed so far (stdout and stderr). */
  output(): string;
  /** Lines printed so far that match. */
  grep(pattern: RegExp): string[];
  /** Resolves with the first line (already printed or future) that matches; rejects after timeoutMs. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<string>;
  stop(graceMs?: number): Promise<void>;
  kill9(): void;
}

const running = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/** Start `dhw ARGS`; resolves once it printed a line matching `ready` (null: at once, e.g. a silent tail). */
export async function spawnDhw(
  args: readonly string[],
  ready: RegExp | null,
  timeoutMs = 60_000,
): Promise<DhwProcess> {
  const child = spawn(process.execPath, [DHW, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const exited = new Promise<void>((resolve) =>
    child.on('exit', () => {
      running.delete(child);
      resolve();
    }),
  );
  const lines = () => out.split('\n');
  const waitFor = async (pattern: RegExp, waitMs = 10_000): Promise<string> => {
    const deadline = Date.now() + waitMs;
    for (;;) {
      const line = lines().find((l) => pattern.test(l));
      if (line !== undefined) return line;
      if (child.exitCode !== null)
        throw new Error(
          `dhw ${args[0]} exited (${child.exitCode}) before printing ${pattern}:\n${out.slice(-2000)}`,
        );
      if (Date.now() > deadline)
        throw new Error(
          `dhw ${args[0]} printed no line matching ${pattern} within ${waitMs} ms:\n${out.slice(-2000)}`,
        );
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  };
  try {
    if (ready) await waitFor(ready, timeoutMs);
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  }
  return {
    pid: child.pid as number,
    ready: ready ? (ready.exec(lines().find((l) => ready.test(l)) as string) as RegExpExecArray) : null,
    output: () => out,
    grep: (pattern) => lines().filter((l) => pattern.test(l)),
    waitFor,
    stop: async (graceMs = 5000) => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
        await exited;
        clearTimeout(timer);
      }
    },
    kill9: () => {
      child.kill('SIGKILL');
    },
  };
}
