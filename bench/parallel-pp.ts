/**
 * `node bin/run-ts.mjs bench/parallel-pp.ts`: what does pipeline parallelism cost and buy on this machine?
 *
 * For PP = 1 and PP = 2 (and whatever `--stages` lists) × m = 1, 2, 4 micro-batches: `--sequences` greedy
 * requests at once (EOS ignored, `--max-tokens` each) through one engine whose layers are split over stage
 * processes, and per configuration:
 *   - output tokens/s (all output tokens / wall time from first request to last token);
 *   - the measured pipeline bubble: 1 − Σ stage busy time / (p × Σ engine step wall time), busy time from
 *     per-stage timestamps around each stage's forward (`PipelineExecutor.stageBusy`). It counts everything
 *     that is not a stage computing as idle: the textbook's fill/drain bubble, the hops, and the engine's own
 *     scheduling and sampling between steps; next to the textbook (p − 1)/(m + p − 1), m = the micro-batches
 *     a step really had (at most the sequences in it);
 *   - memory per stage: weights held, KV cache allocated, process RSS;
 *   - bytes that crossed stage links per token: hidden states (rows × hidden × 4 bytes per hop) plus the
 *     logits coming back (vocab × 4 per sampled row per hop), over the p − 1 hops.
 *
 * The box these numbers come from has 2 cores. PP = 1 computes with both (2 kernel threads); PP = 2 gives each
 * stage process one. A pipeline cannot beat that on throughput: it adds hops and a bubble and removes no
 * work; what it buys is memory (each stage holds 1/p of the layers). Exported for `npm run bench:parallel`:
 * `runPipelineBench(options) → rows`, `pipelineBenchTable(rows)`.
 *
 * Options: --model DIR, --stages 1,2, --micro-batches 1,2,4, --sequences 8, --prompt-tokens 32,
 *          --max-tokens 32, --threads N (per process; default: cores / stages), --smoke, --json
 */
import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { LlmEngine } from '../src/engine/index.ts';
import { heldWeightBytes, kvCacheBytes, loadModelConfig } from '../src/model/index.ts';
import { defaultModelDir } from '../src/util/paths.ts';
import { fmt, markdownTable } from '../src/util/table.ts';
import { positiveInt, positiveIntList } from './lib/args.ts';
import { describeMachine, machineLine } from './lib/machine.ts';
import { benchRequest, syntheticPrompt } from './lib/prompts.ts';

export interface PipelineBenchOptions {
  modelDir: string;
  stages: number[];
  microBatches: number[];
  sequences: number;
  promptTokens: number;
  maxTokens: number;
  /** Kernel threads per process (default: cores / stages, at least 1). */
  threads?: number;
}

export interface StageMemory {
  stage: number;
  layers: string;
  weightBytes: number;
  kvBytes: number;
  rssBytes: number;
}

export interface PipelineBenchRow {
  stages: number;
  microBatches: number;
  threadsPerStage: number;
  outputTokensPerS: number;
  /** Measured idle fraction of the stages during engine steps (null for PP = 1: nothing to pipeline). */
  bubbleMeasured: number | null;
  /** (p − 1)/(m + p − 1) with m = the micro-batches a step really had. */
  bubbleTextbook: number;
  memory: StageMemory[];
  /** Bytes over all stage links per token computed (hidden states + logits). */
  linkBytesPerToken: number;
}

let requestCounter = 0;

async function measure(opts: PipelineBenchOptions, stages: number, m: number): Promise<PipelineBenchRow> {
  const threads = opts.threads ?? Math.max(1, Math.floor(availableParallelism() / stages));
  const engine = await LlmEngine.create({
    modelDir: opts.modelDir,
    threads,
    pipelineParallelSize: stages,
    pipelineMicroBatches: m,
    enablePrefixCaching: false,
    maxNumSeqs: Math.max(opts.sequences, 1),
  });
  try {
    const vocab = engine.info.vocabSize;
    const run = async (n: number, maxTokens: number) => {
      const prompts = Array.from({ length: n }, (_, i) =>
        syntheticPrompt(opts.promptTokens, 1000 + i, vocab),
      );
      await Promise.all(
        prompts.map(async (p) => {
          for await (const _ of engine.generate(benchRequest(`pp${requestCounter++}`, p, maxTokens)));
        }),
      );
    };
    await run(Math.min(2, opts.sequences), 2); // warm-up: kernels compiled, connections hot
    await engine.pipeline?.stageBusy(true);
    let stepWallMs = 0;
    let seqsPerStep = 0;
    let steps = 0;
    const off = engine.onStep((e) => {
      stepWallMs += e.stepMs;
      seqsPerStep += e.numSeqs;
      steps++;
    });
    const before = engine.pipeline ? { ...engine.pipeline.traffic } : null;
    const started = performance.now();
    await run(opts.sequences, opts.maxTokens);
    const seconds = (performance.now() - started) / 1000;
    off();
    const mEff = Math.min(m, seqsPerStep / Math.max(1, steps));
    let bubbleMeasured: number | null = null;
    let linkBytesPerToken = 0;
    if (engine.pipeline && before) {
      const busy = await engine.pipeline.stageBusy(true);
      const busyMs = busy.reduce((sum, s) => sum + s.intervals.reduce((t, [a, b]) => t + (b - a), 0), 0);
      bubbleMeasured = 1 - busyMs / (stages * stepWallMs);
      const t = engine.pipeline.traffic;
      const bytes = t.hiddenBytes - before.hiddenBytes + (t.logitsBytes - before.logitsBytes);
      linkBytesPerToken = (bytes * (stages - 1)) / Math.max(1, t.tokens - before.tokens);
    }
    const memory: StageMemory[] = engine.pipeline
      ? engine.pipeline.stages.map((s) => ({
          stage: s.stage,
          layers: `${s.layers[0]}-${s.layers[1] - 1}`,
          weightBytes: s.weightBytes,
          kvBytes: s.kvBytes,
          rssBytes: s.rssBytes,
        }))
      : [
          {
            stage: 0,
            layers: `0-${engine.model.config.numLayers - 1}`,
            weightBytes: heldWeightBytes(engine.model.weights),
            kvBytes: kvCacheBytes(engine.kvTensors),
            rssBytes: process.memoryUsage().rss,
          },
        ];
    return {
      stages,
      microBatches: m,
      threadsPerStage: threads,
      outputTokensPerS: (opts.sequences * opts.maxTokens) / seconds,
      bubbleMeasured,
      bubbleTextbook: (stages - 1) / (mEff + stages - 1),
      memory,
      linkBytesPerToken,
    };
  } finally {
    await engine.close();
  }
}

/** Every (stages, micro-batches) pair; PP = 1 once (micro-batches mean nothing without stages). */
export async function runPipelineBench(opts: PipelineBenchOptions): Promise<PipelineBenchRow[]> {
  const numLayers = loadModelConfig(opts.modelDir).numLayers;
  const rows: PipelineBenchRow[] = [];
  for (const p of opts.stages.filter((s) => s <= numLayers)) {
    for (const m of p === 1 ? [1] : opts.microBatches) rows.push(await measure(opts, p, m));
  }
  return rows;
}

const mib = (bytes: number) => (bytes / 2 ** 20).toFixed(2);

export function pipelineBenchTable(rows: readonly PipelineBenchRow[]): string {
  const columns = [
    { header: 'config', align: 'left' as const },
    { header: 'threads/stage' },
    { header: 'output tok/s' },
    { header: 'bubble measured' },
    { header: 'bubble (p−1)/(m+p−1)' },
    { header: 'per stage: layers, weights MiB + KV MiB, RSS MiB', align: 'left' as const },
    { header: 'link bytes/token' },
  ];
  const body = rows.map((r) => [
    r.stages === 1 ? 'PP=1' : `PP=${r.stages}, m=${r.microBatches}`,
    String(r.threadsPerStage),
    fmt(r.outputTokensPerS, 1),
    r.bubbleMeasured === null ? '—' : fmt(r.bubbleMeasured, 2),
    fmt(r.bubbleTextbook, 2),
    r.memory
      .map((s) => `s${s.stage} L${s.layers}: ${mib(s.weightBytes)} + ${mib(s.kvBytes)}, ${mib(s.rssBytes)}`)
      .join(' · '),
    r.stages === 1 ? '0' : fmt(r.linkBytesPerToken, 0),
  ]);
  return markdownTable(columns, body);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      model: { type: 'string', default: defaultModelDir },
      stages: { type: 'string', default: '1,2' },
      'micro-batches': { type: 'string', default: '1,2,4' },
      sequences: { type: 'string', default: '8' },
      'prompt-tokens': { type: 'string', default: '32' },
      'max-tokens': { type: 'string', default: '32' },
      threads: { type: 'string' },
      smoke: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
    },
  });
  const opts: PipelineBenchOptions = values.smoke
    ? {
        modelDir: resolve(values.model),
        stages: [1, 2],
        microBatches: [1, 2],
        sequences: 2,
        promptTokens: 4,
        maxTokens: 3,
      }
    : {
        modelDir: resolve(values.model),
        stages: positiveIntList('--stages', values.stages),
        microBatches: positiveIntList('--micro-batches', values['micro-batches']),
        sequences: positiveInt('--sequences', values.sequences),
        promptTokens: positiveInt('--prompt-tokens', values['prompt-tokens']),
        maxTokens: positiveInt('--max-tokens', values['max-tokens']),
        threads: values.threads === undefined ? undefined : positiveInt('--threads', values.threads),
      };
  const machine = describeMachine();
  const rows = await runPipelineBench(opts);
  if (!values.json) {
    console.log(
      `## Pipeline parallelism (${opts.sequences} sequences × ${opts.maxTokens} tokens, prompt ${opts.promptTokens})\n`,
    );
    console.log(machineLine(machine));
    console.log('');
    console.log(pipelineBenchTable(rows));
  }
  console.log(JSON.stringify({ machine, options: opts, rows }));
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) await main();
