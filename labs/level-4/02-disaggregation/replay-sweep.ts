/**
 * The same question at GPU scale, in virtual time: `dhw replay --synthetic mixed` (a seeded long/short mix
 * with Poisson arrivals) through the real router and decision rule, with simulated workers whose step times
 * come from Dynamo's GPU-fitted timing model and whose KV hand-off costs `latency + bytes / bandwidth` on a
 * simulated --link. Run as the CLI a learner would type, `--json` for the numbers.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { repoRoot } from '../../../src/util/paths.ts';
import { note } from '../../lib/lab-kit.ts';

export interface Latency {
  mean: number | null;
  p50: number | null;
  p90: number | null;
  p99: number | null;
}

/** The part of `dhw replay --json`'s runs[] entry this lab reads. */
export interface ReplayRun {
  completed: number;
  ttftMs: Latency;
  itlMs: Latency;
  outputTokenThroughput: number | null;
  disagg?: {
    link: string;
    remotePrefills: number;
    decisions: Record<string, number>;
    transferMs: Latency;
    fallbacks: number;
  };
}

export interface Cluster {
  label: string;
  /** `--workers N`, or `--prefill-workers P --decode-workers D --link L`. */
  args: string[];
}

/** `dhw replay --synthetic mixed WORKLOAD CLUSTER --json`: the last stdout line's runs[0]. */
export async function replay(
  workload: readonly string[],
  cluster: Cluster,
  echo: boolean,
): Promise<ReplayRun> {
  const args = ['replay', '--synthetic', 'mixed', ...workload, ...cluster.args, '--json'];
  if (echo) note(`$ dhw ${args.join(' ')}`);
  const child = spawn(process.execPath, [join(repoRoot, 'bin', 'dhw.mjs'), ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
  if (code !== 0) throw new Error(`dhw ${args.join(' ')} exited ${code}:\n${stderr.slice(-2000)}`);
  const last = stdout.trim().split('\n').at(-1) ?? '';
  const parsed = JSON.parse(last) as { runs: ReplayRun[] };
  const run = parsed.runs[0];
  if (!run) throw new Error(`dhw replay printed no runs: ${last.slice(0, 300)}`);
  return run;
}

/** Runs `jobs` two at a time (the CLI's start-up overlaps; the box has 2 cores), results in order. */
export async function twoAtATime<T>(jobs: (() => Promise<T>)[]): Promise<T[]> {
  const results: T[] = new Array(jobs.length);
  let next = 0;
  const lane = async () => {
    while (next < jobs.length) {
      const i = next++;
      results[i] = await (jobs[i] as () => Promise<T>)();
    }
  };
  await Promise.all([lane(), lane()]);
  return results;
}

export const ms = (x: number | null | undefined) =>
  x === null || x === undefined ? '-' : x < 10 ? x.toFixed(2) : x.toFixed(0);
