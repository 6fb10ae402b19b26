/**
 * The lab harness: what every lab script shares. It is the `set -euo pipefail` + `echo "Step 1: ..."` of the
 * learning path: numbered steps, aligned tables, human units, smoke mode, and one place that turns an exception
 * into a message saying what to check.
 *
 * Smoke mode (`npm run lab -- 1.2 --smoke`, env DHW_LAB_SMOKE=1, or CI=true) asks a lab for a small, fast
 * version of itself: fewer tokens, shorter prompts. CI runs every lab that way (labs/smoke.test.ts).
 */
import { performance } from 'node:perf_hooks';

export { formatBytes } from '../../src/util/format.ts';

/** True when the lab should run its small, fast version. */
export function isSmoke(): boolean {
  return process.argv.includes('--smoke') || process.env.DHW_LAB_SMOKE === '1' || process.env.CI === 'true';
}

/** Value of `--name value` or `--name=value` on the lab's command line, if given. */
export function argValue(name: string): string | undefined {
  const args = process.argv.slice(2);
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string;
    if (arg === `--${name}`) return args[i + 1];
    if (arg.startsWith(`--${name}=`)) return arg.slice(name.length + 3);
  }
  return undefined;
}

export function banner(id: string, title: string): void {
  const line = `Lab ${id}: ${title}`;
  console.log(
    `\n${line}\n${'='.repeat(line.length)}${isSmoke() ? '\n(smoke mode: small, fast version)' : ''}`,
  );
}

let stepCount = 0;
/** Prints "Step N: what happens next", so output reads like a runbook. */
export function step(what: string): void {
  stepCount++;
  console.log(`\nStep ${stepCount}: ${what}`);
}

export function note(text: string): void {
  console.log(`  ${text}`);
}

/** Prints rows under headers, columns padded; numbers right-aligned, text left-aligned. */
export function printTable(headers: string[], rows: (string | number)[][]): void {
  const cells = [headers, ...rows.map((r) => r.map(String))];
  const widths = headers.map((_, c) => Math.max(...cells.map((r) => (r[c] ?? '').length)));
  const isNumeric = headers.map((_, c) => rows.every((r) => typeof r[c] === 'number'));
  const format = (row: string[]) =>
    row
      .map((cell, c) => (isNumeric[c] ? cell.padStart(widths[c] ?? 0) : cell.padEnd(widths[c] ?? 0)))
      .join('  ')
      .trimEnd();
  console.log(`  ${format(cells[0] as string[])}`);
  console.log(`  ${widths.map((w) => '-'.repeat(w)).join('  ')}`);
  for (const row of cells.slice(1)) console.log(`  ${format(row)}`);
}

/** 12.34 → "12.34 ms": two decimals below 100 ms (util/format.ts's formatMs keeps one from 10 ms up). */
export function formatMs(ms: number): string {
  return ms >= 100 ? `${ms.toFixed(0)} ms` : `${ms.toFixed(2)} ms`;
}

/** Runs fn and returns its result with the elapsed wall time in milliseconds. */
export async function timed<T>(fn: () => T | Promise<T>): Promise<{ result: T; ms: number }> {
  const start = performance.now();
  const result = await fn();
  return { result, ms: performance.now() - start };
}

/** Shows a string with control characters and newlines made visible: "a\nb" → "a\\nb". */
export function visible(text: string): string {
  return JSON.stringify(text).slice(1, -1);
}

/**
 * Runs a lab's main function. On failure prints what went wrong, the cause chain and a hint, then exits 1:
 * a lab should fail like a good health check, with the next command to try.
 */
export function runLab(
  main: () => Promise<void>,
  hint = 'Run `npm run lab -- 0.1` to check the environment.',
): void {
  main().then(
    () => console.log('\nLab complete.'),
    (error: unknown) => {
      console.error(`\nLAB FAILED: ${describeError(error)}`);
      console.error(`Hint: ${hint}`);
      process.exitCode = 1;
    },
  );
}

function describeError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = error.cause === undefined ? '' : `\n  caused by: ${describeError(error.cause)}`;
  return `${error.name}: ${error.message}${cause}`;
}
