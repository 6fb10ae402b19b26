/**
 * The same question at GPU scale, in virtual time: `dhw replay --synthetic mixed` (a seeded long/short mix
 * with Poisson arrivals) through the real router and decision rule, with simulated workers whose step times
 * come from Dynamo's GPU-fitted timing model and whose KV hand-off costs `latency + bytes / bandwidth` on a
 * simulated --link. Run as the CLI a learner would type, `--json` for the numbers.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { repoRoot } from '../../../src/util/paths.ts';
import { note, printTable, step } from '../../lib/lab-kit.ts';

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

/** Steps 8 and 9 of the lab: aggregated vs disaggregated in replay, then a link sweep. */
export async function replaySteps(smoke: boolean): Promise<void> {
  step('The same question at GPU scale, in virtual time: `dhw replay --synthetic mixed`');
  const requests = smoke ? 40 : 400;
  const workload = [
    ...['--requests', String(requests), '--rate', '16', '--seed', '1'],
    ...['--long-tokens', '8192', '--short-tokens', '200', '--long-fraction', '0.2', '--output-tokens', '128'],
  ];
  note(
    "simulated GPU workers (Dynamo's fitted step times), KV of 128 KiB per token (an 8B-class model in bf16)",
  );
  const clusters: Cluster[] = [
    { label: 'aggregated, 2 workers', args: ['--workers', '2'] },
    {
      label: '1 prefill + 1 decode, 25gbit',
      args: ['--prefill-workers', '1', '--decode-workers', '1', '--link', '25gbit,10us'],
    },
  ];
  for (const c of clusters)
    note(`$ dhw replay --synthetic mixed ${workload.join(' ')} ${c.args.join(' ')} --json`);
  const runs = await twoAtATime(clusters.map((c) => () => replay(workload, c, false)));
  note(
    `replay, mixed workload: ${requests} requests at 16/s (20 % of 8,192 tokens, the rest 200), aggregated vs disaggregated`,
  );
  printTable(
    ['cluster', 'done', 'TTFT p50 ms', 'TTFT p90 ms', 'ITL p50 ms', 'ITL p99 ms', 'KV pull p50 ms', 'remote'],
    runs.map((run, i) => [
      clusters[i]!.label,
      run.completed,
      ms(run.ttftMs.p50),
      ms(run.ttftMs.p90),
      ms(run.itlMs.p50),
      ms(run.itlMs.p99),
      ms(run.disagg?.transferMs.p50),
      run.disagg ? String(run.disagg.remotePrefills) : '-',
    ]),
  );
  note('the ITL tail is what disaggregation buys; the TTFT tail is what the KV pull costs.');

  step('A link sweep: the same disaggregated pair, the KV of a 70B-class model (320 KiB/token)');
  const links = smoke
    ? ['1gbit,50us', '400gbit,2us']
    : ['1gbit,50us', '10gbit,20us', '25gbit,10us', '100gbit,2us', '400gbit,2us', '3600gbit,1us'];
  const sweep = await twoAtATime(
    links.map(
      (link) => () =>
        replay(
          workload,
          {
            label: link,
            args: [
              '--prefill-workers',
              '1',
              '--decode-workers',
              '1',
              '--link',
              link,
              '--kv-bytes-per-token',
              '327680',
            ],
          },
          false,
        ),
    ),
  );
  note(
    "link sweep (--link BANDWIDTH,LATENCY --kv-bytes-per-token 327680; TTFT includes every remote prefill's KV pull):",
  );
  printTable(
    ['link', 'KV pull p50 ms', 'TTFT p50 ms', 'TTFT p90 ms', 'ITL p99 ms', 'remote'],
    sweep.map((run, i) => [
      links[i]!,
      ms(run.disagg?.transferMs.p50),
      ms(run.ttftMs.p50),
      ms(run.ttftMs.p90),
      ms(run.itlMs.p99),
      run.disagg?.remotePrefills ?? 0,
    ]),
  );
  note('over a slow link the pull costs more than the prefill it moved away (TTFT p90 explodes); over');
  note("RDMA/NVLink-class links it is noise. Lab 4.1's exercise predicts it: 8k tokens of a 70B model take");
  note('859 ms over 25 GbE and 6 ms over NVLink 4.');
}
