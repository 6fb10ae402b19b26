/**
 * Flag parsing helpers for benchmarks: numbers and comma lists with errors that name the flag, so a typo
 * fails before minutes of measuring rather than producing a NaN column.
 */
import { DhwError } from '../../src/util/errors.ts';

/** A benchmark flag with a value that cannot be used. */
export class BenchArgError extends DhwError {}

export function positiveInt(flag: string, value: string | undefined): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) {
    throw new BenchArgError(`--${flag} must be a positive integer, got ${JSON.stringify(value)}`);
  }
  return n;
}

/** "1,2,4" → [1, 2, 4]: positive integers, sorted ascending, duplicates removed. */
export function positiveIntList(flag: string, value: string | undefined): number[] {
  const parts = (value ?? '').split(',').filter((s) => s.trim() !== '');
  if (parts.length === 0) throw new BenchArgError(`--${flag} needs a comma-separated list, e.g. 1,2,4`);
  const list = parts.map((s) => positiveInt(flag, s.trim()));
  return [...new Set(list)].sort((a, b) => a - b);
}
