/**
 * The project's structured log lines, captured instead of printed, so a lab can show the few that matter
 * ("every line of request X", "the router's decision") among hundreds. Like `journalctl | grep`: the
 * components log as they always do (`src/util/logger.ts`); we only redirect where the lines go.
 */
import { configureLogging, type LogLevel } from '../../src/util/logger.ts';

interface Waiter {
  pattern: RegExp;
  resolve: (line: string) => void;
}

export class LogCapture {
  readonly lines: string[] = [];
  private waiters: Waiter[] = [];

  /** From now on every log line at `level` or above lands here (and on stderr too when `echo`). */
  constructor(level: LogLevel = 'info', echo = false) {
    configureLogging({
      level,
      format: 'text',
      write: (line) => {
        this.lines.push(line);
        if (echo) process.stderr.write(`${line}\n`);
        this.waiters = this.waiters.filter((w) => {
          if (!w.pattern.test(line)) return true;
          w.resolve(line);
          return false;
        });
      },
    });
  }

  /** Position to search from later: `grep(pattern, capture.mark())`. */
  mark(): number {
    return this.lines.length;
  }

  /** Lines (after `from`) that match, without their timestamp. */
  grep(pattern: RegExp | string, from = 0): string[] {
    const test =
      typeof pattern === 'string' ? (l: string) => l.includes(pattern) : (l: string) => pattern.test(l);
    return this.lines.slice(from).filter(test).map(withoutTime);
  }

  /** The first line (already logged or future) that matches; rejects after `timeoutMs`. */
  waitFor(pattern: RegExp, timeoutMs: number, from = 0): Promise<string> {
    const seen = this.lines.slice(from).find((l) => pattern.test(l));
    if (seen) return Promise.resolve(withoutTime(seen));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no log line matching ${pattern} within ${timeoutMs} ms`)),
        timeoutMs,
      );
      this.waiters.push({
        pattern,
        resolve: (line) => {
          clearTimeout(timer);
          resolve(withoutTime(line));
        },
      });
    });
  }
}

/** "2026-11-26T23:06:03.569Z INFO  [frontend] request ..." → "INFO  [frontend] request ...". */
export function withoutTime(line: string): string {
  return line.replace(/^\d{4}-\d\d-\d\dT[\d:.]+Z /, '');
}

/** Long log lines cut to `max` characters, so a lab's output stays readable. */
export function shorten(line: string, max = 200): string {
  return line.length <= max ? line : `${line.slice(0, max - 1)}…`;
}
