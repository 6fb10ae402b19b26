/**
 * The numbers a lab chapter quotes, checked against what the lab prints, like a unit test for the prose: a
 * README that says "prefill 33–58 ms" while the run prints 8 ms is a bug report waiting to happen.
 *
 * A chapter declares them in one Markdown table (a reader sees the same table a test reads), preceded by a
 * `Machine:` line saying where the numbers came from:
 *
 *   Machine: 2-core AMD EPYC, Node 20, load average 1 (quiet) to 8 (busy)
 *
 *   | quoted number      | kind   | printed as                         | smoke run | full run |
 *   | ------------------ | ------ | ---------------------------------- | --------- | -------- |
 *   | prompt tokens      | count  | `/Prompt tokens: (\d+)/`           | 15        | 15       |
 *   | prefill, 15 tokens | timing | `/Prefill: .* ([\d.]+) ms/`        | 2–200     | 5–150    |
 *
 * `printed as` is a regular expression with one capture group, applied to every line of the output; every
 * match must fall in the range (`15`, `33–58`, `≥ 5`, `≤ 9`; `–` = not printed in that mode). `count` rows are
 * exact arithmetic or deterministic results and are checked in every run (labs/smoke.test.ts checks them in
 * `npm test`); `timing` rows depend on the machine and its load, so `npm test` only checks they are printed
 * and `npm run lab:numbers` (a full run of each lab) checks their ranges, printing the load average beside them.
 */
import { readFileSync } from 'node:fs';

export type NumberKind = 'count' | 'timing';
export type RunMode = 'smoke' | 'full';

export interface NumberRange {
  min: number;
  max: number;
  /** As written in the README. */
  text: string;
}

export interface QuotedNumber {
  what: string;
  kind: NumberKind;
  pattern: RegExp;
  /** null: the lab does not print this number in that mode. */
  smoke: NumberRange | null;
  full: NumberRange | null;
}

export interface LabNumbers {
  machine: string;
  numbers: QuotedNumber[];
}

export interface NumberCheck {
  what: string;
  kind: NumberKind;
  range: NumberRange;
  /** Every value the pattern captured in the output, in order. */
  values: number[];
  /** Why it fails; undefined when it passes. */
  problem?: string;
}

export class LabNumbersError extends Error {
  override name = 'LabNumbersError';
}

const HEADER = ['quoted number', 'kind', 'printed as', 'smoke run', 'full run'];

/** Cells of one Markdown table row; `\|` stays a literal pipe. */
function cells(line: string): string[] {
  return line
    .trim()
    .replace(/^\||\|$/g, '')
    .split(/(?<!\\)\|/)
    .map((cell) => cell.trim().replaceAll('\\|', '|'));
}

const parseNumber = (text: string): number => Number(text.replace(/[,\s\u202f]/g, ''));

/** `15`, `33–58` (en dash or hyphen), `≥ 5`, `≤ 9`; `–` or `-` alone: not printed in that mode. */
export function parseRange(text: string, where: string): NumberRange | null {
  const t = text.trim();
  if (t === '–' || t === '-' || t === '') return null;
  const number = String.raw`-?[\d,]+(?:\.\d+)?`;
  const between = new RegExp(`^(${number})\\s*[–-]\\s*(${number})$`).exec(t);
  const atLeast = new RegExp(`^≥\\s*(${number})$`).exec(t);
  const atMost = new RegExp(`^≤\\s*(${number})$`).exec(t);
  const exact = new RegExp(`^(${number})$`).exec(t);
  const range = between
    ? { min: parseNumber(between[1]!), max: parseNumber(between[2]!) }
    : atLeast
      ? { min: parseNumber(atLeast[1]!), max: Number.POSITIVE_INFINITY }
      : atMost
        ? { min: Number.NEGATIVE_INFINITY, max: parseNumber(atMost[1]!) }
        : exact
          ? { min: parseNumber(exact[1]!), max: parseNumber(exact[1]!) }
          : undefined;
  if (!range || Number.isNaN(range.min) || Number.isNaN(range.max) || range.min > range.max) {
    throw new LabNumbersError(`${where}: range "${text}" is not N, N–M, ≥ N, ≤ N or –`);
  }
  return { ...range, text: t };
}

function parsePattern(text: string, where: string): RegExp {
  const literal = /^`\/(.+)\/`$/.exec(text.trim());
  if (!literal) throw new LabNumbersError(`${where}: "printed as" must be a \`/regex/\`, got ${text}`);
  const pattern = new RegExp(literal[1]!, 'gm');
  if (new RegExp(`${pattern.source}|`).exec('')!.length !== 2) {
    throw new LabNumbersError(`${where}: ${text} needs exactly one capture group (the number)`);
  }
  return pattern;
}

/** The chapter's numbers table, or null when it has none. Throws on a malformed table or a missing machine. */
export function parseLabNumbers(readme: string, file = 'README.md'): LabNumbers | null {
  const lines = readme.split('\n');
  const start = lines.findIndex(
    (line) => line.trim().startsWith('|') && cells(line).join() === HEADER.join(),
  );
  if (start < 0) return null;
  const machine = lines
    .slice(0, start)
    .reverse()
    .map((line) => /^Machine:\s*(.+)$/.exec(line.trim())?.[1])
    .find((m) => m !== undefined);
  if (!machine) throw new LabNumbersError(`${file}: the numbers table needs a "Machine: ..." line above it`);
  const numbers: QuotedNumber[] = [];
  for (let i = start + 2; i < lines.length && lines[i]!.trim().startsWith('|'); i++) {
    const where = `${file}:${i + 1}`;
    const [what, kind, printedAs, smoke, full] = cells(lines[i]!);
    if (kind !== 'count' && kind !== 'timing')
      throw new LabNumbersError(`${where}: kind must be count or timing, got "${kind}"`);
    numbers.push({
      what: what!,
      kind,
      pattern: parsePattern(printedAs ?? '', where),
      smoke: parseRange(smoke ?? '', where),
      full: parseRange(full ?? '', where),
    });
  }
  if (numbers.length === 0) throw new LabNumbersError(`${file}: the numbers table has no rows`);
  return { machine, numbers };
}

export function readLabNumbers(readmePath: string): LabNumbers | null {
  return parseLabNumbers(readFileSync(readmePath, 'utf8'), readmePath);
}

/**
 * Each number of `mode` found in `output` and checked against its range. With `checkTimings: false`, a
 * timing row only has to be printed (a positive number), whatever its value.
 */
export function checkLabNumbers(
  lab: LabNumbers,
  output: string,
  mode: RunMode,
  options: { checkTimings: boolean },
): NumberCheck[] {
  const checks: NumberCheck[] = [];
  for (const quoted of lab.numbers) {
    const range = quoted[mode];
    if (range === null) continue;
    const values = [...output.matchAll(quoted.pattern)].map((m) => parseNumber(m[1] ?? ''));
    const check: NumberCheck = { what: quoted.what, kind: quoted.kind, range, values };
    const inRange = (v: number) =>
      quoted.kind === 'timing' && !options.checkTimings ? v > 0 : v >= range.min && v <= range.max;
    if (values.length === 0) check.problem = `not printed (no match for ${quoted.pattern})`;
    else if (values.some(Number.isNaN))
      check.problem = `printed as something that is not a number: ${values}`;
    else if (!values.every(inRange))
      check.problem = `printed ${values.join(', ')}; the README says ${range.text}`;
    checks.push(check);
  }
  return checks;
}
