/**
 * The exercise harness: what every lab's `check.ts` shares. A lab with an exercise has three files beside its
 * `lab.ts`: `starter.ts` (where the learner starts: compiles, fails the check), `reference.ts` (a solution
 * that passes) and `check.ts` (runs named checks against a solution file and prints PASS / FAIL lines). Like
 * a conformance suite for a plug-in: the harness owns the scenarios, the learner's file only answers.
 *
 *   npm run lab -- 1.3 --check                 # the starter as shipped: FAIL lines that say what to do
 *   npm run lab -- 1.3 --check ./my-kv.ts      # your copy of the starter
 *   npm run lab -- 1.3 --check --reference     # the reference: every check passes
 *
 * Exit status: 0 when every check passes, 1 when one fails, 2 when the file cannot be loaded at all (so CI
 * can tell "the starter fails the check" from "the starter does not compile").
 */
import { existsSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const STARTER_FILE = 'starter.ts';
export const REFERENCE_FILE = 'reference.ts';

export interface CheckResult {
  title: string;
  passed: boolean;
  /** What went wrong (a FAIL), or what was seen (an advisory line that does not count as a FAIL). */
  detail?: string;
  /** Printed as INFO and not counted: a measurement too noisy to fail on here (smoke mode, a busy machine). */
  advisory?: boolean;
}

/** One named check: undefined = passed, otherwise a sentence saying what was expected and what to look at. */
export interface Check<S> {
  title: string;
  run(solution: S): string | undefined | Promise<string | undefined>;
}

/** The solution file could not be imported, or does not export what the exercise asks for. */
export class SolutionLoadError extends Error {
  override readonly name = 'SolutionLoadError';
}

/** Imports `path` and checks it exports a function for each name in `exports`. */
export async function loadSolution<S>(path: string, exports: readonly string[]): Promise<S> {
  if (!existsSync(path)) throw new SolutionLoadError(`no file at ${path}: check the path you passed`);
  let module: Record<string, unknown>;
  try {
    module = (await import(pathToFileURL(path).href)) as Record<string, unknown>;
  } catch (cause) {
    throw new SolutionLoadError(
      `${path} does not load (a syntax or import error?): ${(cause as Error).message}`,
      { cause },
    );
  }
  const missing = exports.filter((name) => typeof module[name] !== 'function');
  if (missing.length > 0) {
    throw new SolutionLoadError(
      `${path} must export function${missing.length > 1 ? 's' : ''} ${missing.join(', ')} (as ${STARTER_FILE} does)`,
    );
  }
  return module as S;
}

/** Runs every check; an exception inside one is that check's FAIL, not the end of the run. */
export async function runChecks<S>(checks: readonly Check<S>[], solution: S): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  for (const check of checks) {
    try {
      const problem = await check.run(solution);
      results.push({ title: check.title, passed: problem === undefined, detail: problem });
    } catch (err) {
      results.push({
        title: check.title,
        passed: false,
        detail: `threw ${(err as Error).name}: ${(err as Error).message}`,
      });
    }
  }
  return results;
}

/**
 * Prints "PASS  n. title" / "FAIL  n. title → detail" / "INFO  n. title → detail" lines and the tally
 * ("7/8 checks passed"); returns true when every counted check passed.
 */
export function printResults(
  path: string,
  results: readonly CheckResult[],
  indent = '',
  noun = 'checks',
): boolean {
  console.log(`${indent}Checking ${relative(process.cwd(), path) || path}`);
  results.forEach((r, i) => {
    const label = r.advisory ? 'INFO' : r.passed ? 'PASS' : 'FAIL';
    console.log(
      `${indent}  ${label}  ${i + 1}. ${r.title}${r.detail ? `\n${indent}        → ${r.detail}` : ''}`,
    );
  });
  const counted = results.filter((r) => !r.advisory);
  const passed = counted.filter((r) => r.passed).length;
  console.log(`${indent}${passed}/${counted.length} ${noun} passed`);
  return passed === counted.length;
}

/**
 * The file a check runs on, from its command line: `--reference` → the lab's reference.ts; a path →
 * that file (relative to where `npm run` was typed, else the working directory); nothing → the starter.
 */
export function solutionPath(labDir: string, argv = process.argv.slice(2)): string {
  if (argv.includes('--reference')) return join(labDir, REFERENCE_FILE);
  const file = argv.find((arg) => !arg.startsWith('--'));
  return file === undefined
    ? join(labDir, STARTER_FILE)
    : resolve(process.env.INIT_CWD ?? process.cwd(), file);
}

/** True when `moduleUrl` (a check's import.meta.url) is the script node was started with. */
export function isMain(moduleUrl: string): boolean {
  return process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(moduleUrl);
}

/**
 * A check script's whole command line: pick the file, run `check` on it, print, set the exit status.
 * `check` throws SolutionLoadError (or anything) when the file cannot be used at all: exit 2.
 */
export async function checkMain(
  moduleUrl: string,
  check: (path: string) => Promise<CheckResult[]>,
  noun = 'checks',
): Promise<void> {
  const path = solutionPath(dirname(fileURLToPath(moduleUrl)));
  try {
    process.exitCode = printResults(path, await check(path), '', noun) ? 0 : 1;
  } catch (err) {
    console.error(`cannot check ${path}: ${(err as Error).message}`);
    process.exitCode = 2;
  }
}

/** Relative difference of two numbers, 0 when both are 0. */
export function relativeError(actual: number, expected: number): number {
  if (actual === expected) return 0;
  return Math.abs(actual - expected) / Math.max(Math.abs(expected), Number.MIN_VALUE);
}
