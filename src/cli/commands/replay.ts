/**
 * `dhw replay TRACE.jsonl`: replay a Mooncake request trace through the real router and N simulated
 * workers in virtual time, and print what the routing policy bought: TTFT / TPOT / ITL / E2E percentiles,
 * throughput, goodput, prefix hit rate and per-worker balance. Like replaying a production access log
 * against a staging load balancer with stub backends; `--compare kv,random` is the bake-off.
 *
 * `--prefill-workers P --decode-workers D` replays a disaggregated cluster instead (KV over `--link`);
 * `--synthetic mixed` replays a generated long/short mix instead of a trace file.
 */
import { writeChartFiles } from '../../util/chart-files.ts';
import {
  formatReplayTable,
  formatSweepTable,
  REPLAY_DEFAULTS,
  type ReplayMetrics,
  type ReplayOptions,
  type ReplayResult,
  renderReplayChart,
  renderSweepChart,
  resolveReplayOptions,
  runReplay,
  type SweepPoint,
  sloNote,
  summarizeReplay,
  TraceBlockHasher,
} from '../../replay/index.ts';
import { startProgress } from '../../util/progress.ts';
import { numberFlag, stringFlag } from '../args.ts';
import type { Command } from '../command.ts';
import { beginCommand } from '../command-prologue.ts';
import { routerQueueFrom } from '../router-queue-flags.ts';
import {
  clusterFrom,
  describeCluster,
  describeLoad,
  int,
  policiesFrom,
  simFrom,
  sweepFrom,
  workloadFrom,
} from './replay-args.ts';
import { REPLAY_DESCRIPTION, REPLAY_FLAGS, REPLAY_USAGE } from './replay-flags.ts';

const D = REPLAY_DEFAULTS;

export const replayCommand: Command = {
  name: 'replay',
  summary: 'replay a request trace through the real router and simulated workers (virtual time)',
  async run(argv) {
    const parsed = beginCommand(argv, {
      usage: REPLAY_USAGE,
      description: REPLAY_DESCRIPTION,
      flags: REPLAY_FLAGS,
    });
    if (!parsed) return 0;
    const { values, positionals } = parsed;
    const policies = policiesFrom(values);
    const cluster = clusterFrom(values);
    const options = {
      ...cluster,
      blockSize: int(values, 'block-size'),
      numKvBlocks: int(values, 'num-kv-blocks'),
      maxNumSeqs: int(values, 'max-num-seqs'),
      maxNumBatchedTokens: int(values, 'max-num-batched-tokens'),
      contextLength: int(values, 'context-length'),
      speedupRatio: numberFlag(values, 'speedup-ratio', { min: 0 }), // 0 is refused by runReplay, with the reason
      timeScale: numberFlag(values, 'time-scale', { min: 0 }),
      seed: int(values, 'seed', 0),
      traceBlockSize: int(values, 'trace-block-size'),
      overlapScoreWeight: numberFlag(values, 'kv-overlap-score-weight', { min: 0 }),
      sim: simFrom(values),
      temperature: numberFlag(values, 'router-temperature', { min: 0 }),
      routerQueue: routerQueueFrom(values),
    };
    const slo = {
      ttftMs: numberFlag(values, 'slo-ttft-ms', { min: 0 })!,
      tpotMs: numberFlag(values, 'slo-tpot-ms', { min: 0 })!,
    };
    const workload = workloadFrom(values, positionals, options.traceBlockSize);
    const trace = workload.records;
    const hasher = new TraceBlockHasher(
      options.blockSize ?? D.blockSize,
      options.traceBlockSize ?? D.traceBlockSize,
      D.vocabSize,
    );
    const sweepSpec = sweepFrom(values);
    const concurrency = int(values, 'concurrency');
    const loads: Array<Partial<ReplayOptions>> = sweepSpec
      ? sweepSpec.values.map((v) =>
          sweepSpec.parameter === 'concurrency' ? { concurrency: v } : { timeScale: v },
        )
      : [concurrency === undefined ? {} : { concurrency }];
    const results: ReplayResult[] = [];
    const metrics: ReplayMetrics[] = [];
    const points: SweepPoint[] = [];
    for (const [i, load] of loads.entries()) {
      for (const router of policies) {
        const runOptions = { ...options, ...load, router, hasher };
        process.stderr.write(
          `replaying ${trace.length} requests through ${router} on ${describeCluster(cluster)}` +
            ` (${resolveReplayOptions(runOptions).sim} simulator)` +
            `${describeLoad(runOptions)}\n`,
        );
        const progress = startProgress({ label: `replay ${router}`, total: trace.length, unit: 'requests' });
        const result = await runReplay(trace, {
          ...runOptions,
          onProgress: (finished) => progress.update(finished),
        }).finally(() => progress.stop());
        const m = summarizeReplay(result, slo);
        results.push(result);
        metrics.push(m);
        if (sweepSpec) points.push({ value: sweepSpec.values[i]!, metrics: m });
        const simulated = (result.simulatedMs / 1000).toFixed(1);
        process.stderr.write(
          `${router}: ${simulated} s of traffic replayed in ${(result.wallMs / 1000).toFixed(1)} s\n`,
        );
      }
    }
    if (sweepSpec) console.log(formatSweepTable(sweepSpec, points));
    else console.log(formatReplayTable(metrics));
    console.log(sloNote(metrics[0]!));
    const plot = stringFlag(values, 'plot');
    if (plot !== undefined) {
      const title = `Trace replay: ${trace.length} requests`;
      const files = await writeChartFiles(
        plot,
        sweepSpec ? renderSweepChart(sweepSpec, points, title) : renderReplayChart(results, title),
      );
      console.log(`chart written to ${files.svg} and ${files.png}`);
    }
    if (values.json === true) {
      const config = { ...results[0]!.options, router: undefined, policies };
      const runs = sweepSpec
        ? points.map((p) => ({ ...p.metrics, load: { [sweepSpec.parameter]: p.value } }))
        : metrics;
      const report: Record<string, unknown> = { trace: workload.name, requests: trace.length, config, runs };
      if (sweepSpec) report.sweep = sweepSpec;
      if (workload.synthetic) report.workload = workload.synthetic;
      console.log(JSON.stringify(report));
    }
    return 0;
  },
};
