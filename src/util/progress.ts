/**
 * One progress display for every long operation (model load, convert, replay, benches, installs), like `pv`
 * or `curl`'s meter: a live `cli-progress` bar when a person watches a terminal, a plain line every few
 * seconds when the output goes to a log file or CI (so a long run still shows it is alive, and a short one
 * prints nothing), and silence with `--json` or `quiet` (machine output stays clean).
 *
 * Drawn on stderr by default: stdout carries the command's result.
 */
import type { Writable } from 'node:stream';
import cliProgress from 'cli-progress';
import { formatBytes } from './format.ts';

/** How a progress display shows itself: decided once, from the stream and the caller's flags. */
export type ProgressMode = 'bar' | 'log' | 'quiet';

export interface ProgressOptions {
  /** What is being done ("loading weights", "replay"); starts every line. */
  label: string;
  /** The amount of work; may be changed later with `setTotal` when only known after a first look. */
  total: number;
  /** `bytes` prints 1.2 GiB of 4.4 GiB; `%` a percentage (total 100); anything else is a plural noun ("requests"). */
  unit?: string;
  /** Machine output asked for (`--json`): show nothing. */
  json?: boolean;
  /** Show nothing whatever the stream (a caller's own `--quiet`). */
  quiet?: boolean;
  /** Where to draw (default process.stderr). A terminal gets the bar; anything else the periodic line. */
  stream?: Writable & { isTTY?: boolean };
  /** Period of the plain line when not a terminal; the first comes after one period (default 5,000 ms). */
  logEveryMs?: number;
  /** The clock, for tests. */
  now?: () => number;
}

export interface Progress {
  readonly mode: ProgressMode;
  /** Set the work done so far (absolute); `detail` is a short note shown after the numbers. */
  update(done: number, detail?: string): void;
  /** Add to the work done. */
  increment(by?: number, detail?: string): void;
  setTotal(total: number): void;
  /** Remove the bar (a terminal keeps no trace) and stop the periodic line. Safe to call twice. */
  stop(): void;
}

/** The process-wide default, set once by the CLI from `--json` / `--log-format json` (like logging). */
const processDefaults = { quiet: false };

/** Silence every progress display of this process (machine output on stdout, or JSON log lines on stderr). */
export function configureProgress(options: { quiet: boolean }): void {
  processDefaults.quiet = options.quiet;
}

export function progressMode(options: Pick<ProgressOptions, 'json' | 'quiet' | 'stream'>): ProgressMode {
  if (options.json || (options.quiet ?? processDefaults.quiet)) return 'quiet';
  const stream = options.stream ?? process.stderr;
  return stream.isTTY ? 'bar' : 'log';
}

function amount(value: number, unit: string | undefined): string {
  return unit === 'bytes' ? formatBytes(value) : String(Math.round(value));
}

function summary(done: number, total: number, unit: string | undefined): string {
  if (unit === '%') return `${Math.floor(done)}%`;
  const noun = unit === 'bytes' || unit === undefined ? '' : ` ${unit}`;
  const percent = total > 0 ? ` (${Math.min(100, Math.floor((done / total) * 100))}%)` : '';
  return `${amount(done, unit)} of ${amount(total, unit)}${noun}${percent}`;
}

export function startProgress(options: ProgressOptions): Progress {
  const mode = progressMode(options);
  if (mode === 'quiet') return quietProgress();
  if (mode === 'bar') return barProgress(options);
  return logProgress(options);
}

function quietProgress(): Progress {
  return { mode: 'quiet', update() {}, increment() {}, setTotal() {}, stop() {} };
}

function barProgress(options: ProgressOptions): Progress {
  const bar = new cliProgress.SingleBar(
    {
      format: `${options.label} [{bar}] {percentage}% | {amount} | ETA {eta_formatted} {detail}`,
      stream: options.stream ?? process.stderr,
      hideCursor: true,
      clearOnComplete: true,
      etaBuffer: 20,
    },
    cliProgress.Presets.shades_classic,
  );
  let total = options.total;
  let done = 0;
  let detail = '';
  let stopped = false;
  const payload = () => ({ amount: summary(done, total, options.unit).replace(/ \(\d+%\)$/, ''), detail });
  bar.start(Math.max(1, total), 0, payload());
  return {
    mode: 'bar',
    update(value, note) {
      if (stopped) return;
      done = value;
      if (note !== undefined) detail = note;
      bar.update(done, payload());
    },
    increment(by = 1, note) {
      this.update(done + by, note);
    },
    setTotal(value) {
      total = value;
      if (!stopped) bar.setTotal(Math.max(1, value));
    },
    stop() {
      if (stopped) return;
      stopped = true;
      bar.stop();
    },
  };
}

/**
 * Not a terminal: a line every `logEveryMs`, driven by the updates themselves (no timer, so a stalled
 * operation prints nothing new and the process is never held open by the display).
 */
function logProgress(options: ProgressOptions): Progress {
  const stream = options.stream ?? process.stderr;
  const now = options.now ?? (() => performance.now());
  const every = options.logEveryMs ?? 5000;
  const started = now();
  let nextLineAt = started + every;
  let total = options.total;
  let done = 0;
  let detail = '';
  let stopped = false;
  const maybeLog = () => {
    const at = now();
    if (stopped || at < nextLineAt) return;
    nextLineAt = at + every;
    const seconds = ((at - started) / 1000).toFixed(0);
    const note = detail ? ` ${detail}` : '';
    stream.write(`${options.label}: ${summary(done, total, options.unit)} after ${seconds} s${note}\n`);
  };
  return {
    mode: 'log',
    update(value, note) {
      done = value;
      if (note !== undefined) detail = note;
      maybeLog();
    },
    increment(by = 1, note) {
      this.update(done + by, note);
    },
    setTotal(value) {
      total = value;
    },
    stop() {
      stopped = true;
    },
  };
}
