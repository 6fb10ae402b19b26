/**
 * The same question at GPU scale, in virtual time: `dhw replay --synthetic mixed` (a seeded long/short mix
 * with Poisson arrivals) through the real router and decision rule, with simulated workers whose step times
 * come from Dynamo's GPU-fitted timing model and whose KV hand-off costs `latency + bytes / bandwidth` on a
 * simulated --link. Run as the CLI a learner would type, `--json` for the numbers.
 */
import { spawnSync } from 'node:child_process';
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
export function replay(workload: readonly string[], cluster: Cluster, echo: boolean): ReplayRun {
  const args = ['replay', '--synthetic', 'mixed', ...workload, ...cluster.args, '--json'];
  if (echo) note(`$ dhw ${args.join(' ')}`);
  const result = spawnSync(process.execPath, [join(repoRoot, 'bin', 'dhw.mjs'), ...args], {
    encoding: 'utf8',
    timeout: 120_000,
    maxBuffer: 64 * 1024 * 1024,
  });
  if (result.status !== 0)
    throw new Error(
      `dhw ${args.join(' ')} exited ${result.status ?? result.signal}:\n${result.stderr.slice(-2000)}`,
    );
  const last = result.stdout.trim().split('\n').at(-1) ?? '';
  const parsed = JSON.parse(last) as { runs: ReplayRun[] };
  const run = parsed.runs[0];
  if (!run) throw new Error(`dhw replay printed no runs: ${last.slice(0, 300)}`);
  return run;
}

export const ms = (x: number | null | undefined) =>
  x === null || x === undefined ? '-' : x < 10 ? x.toFixed(2) : x.toFixed(0);
