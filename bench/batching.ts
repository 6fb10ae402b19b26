/**
 * `npm run bench:batching`: what does continuous batching buy on this machine?
 *
 * 1. Concurrency sweep: for N in 1, 2, 4, ... send N greedy requests at once (distinct prompts of the same
 *    length, EOS ignored, the same max_tokens) to ONE engine and measure aggregate decode throughput
 *    (tokens from the steps after the last prefill step / that window's wall time), inter-token latency
 *    (pooled gaps between consecutive tokens of each sequence), TPOT and TTFT. Like raising `wrk -c` against
 *    one server: a decode step reads every weight once whatever the batch, so more sequences per step should
 *    mean more tokens per second in total, paid for with a slower step for each sequence.
 * 2. Prefix-hit TTFT: a long shared prefix, cold (not cached) vs warm (cached), median of several repeats.
 *
 * Prints Markdown tables, writes an SVG chart (default bench/out/batching.svg) and prints the results as
 * one JSON object on the last line (`--json`: only that line). Each sweep point is the median run (by
 * aggregate decode throughput) of `--repeats` runs, after a warm-up. Tests never assert these numbers.
 *
 * Options: --model DIR, --concurrency 1,2,4,8,16,32, --prompt-tokens 32, --max-tokens 64, --repeats 3,
 *          --prefix-tokens 512, --suffix-tokens 16, --prefix-repeats 5, --threads N (default: all cores),
 *          --weight-dtype f32|q8_0, --out FILE.svg, --smoke, --json
 */
import { writeChartFiles } from '../src/util/chart-files.ts';
import { mkdirSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { LlmEngine } from '../src/engine/index.ts';
import { defaultModelDir, repoRoot } from '../src/util/paths.ts';
import { startProgress } from '../src/util/progress.ts';
import { BenchArgError, positiveInt, positiveIntList } from './lib/args.ts';
import { decodePhase, runConcurrentBatch } from './lib/concurrent-batch.ts';
import { describeMachine, machineLine } from './lib/machine.ts';
import { measurePrefixTtft, type PrefixTtftResult } from './lib/prefix-ttft.ts';
import { benchRequest, syntheticPrompt } from './lib/prompts.ts';
import { requestMetrics } from './lib/request-timing.ts';
import { mean, medianIndex, percentile, round } from '../src/util/stats.ts';
import { renderChart } from '../src/util/svg-chart.ts';
import { fmt, markdownTable } from '../src/util/table.ts';

const { values } = parseArgs({
  options: {
    model: { type: 'string', default: defaultModelDir },
    concurrency: { type: 'string', default: '1,2,4,8,16,32' },
    'prompt-tokens': { type: 'string', default: '32' },
    'max-tokens': { type: 'string', default: '64' },
    repeats: { type: 'string', default: '3' },
    'prefix-tokens': { type: 'string', default: '512' },
    'suffix-tokens': { type: 'string', default: '16' },
    'prefix-repeats': { type: 'string', default: '5' },
    out: { type: 'string', default: join(repoRoot, 'bench', 'out', 'batching.svg') },
    threads: { type: 'string' },
    'weight-dtype': { type: 'string', default: 'f32' },
    smoke: { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
  },
});

/** --smoke: a few seconds for CI; shape of the output only, the numbers mean nothing. */
const config = values.smoke
  ? {
      concurrency: [1, 2],
      promptTokens: 8,
      maxTokens: 4,
      repeats: 1,
      prefixTokens: 32,
      suffixTokens: 4,
      prefixRepeats: 2,
    }
  : {
      concurrency: positiveIntList('concurrency', values.concurrency),
      promptTokens: positiveInt('prompt-tokens', values['prompt-tokens']),
      maxTokens: positiveInt('max-tokens', values['max-tokens']),
      repeats: positiveInt('repeats', values.repeats),
      prefixTokens: positiveInt('prefix-tokens', values['prefix-tokens']),
      suffixTokens: positiveInt('suffix-tokens', values['suffix-tokens']),
      prefixRepeats: positiveInt('prefix-repeats', values['prefix-repeats']),
    };
const svgPath = resolve(values.out!);
/** Kernel threads (default: the engine's, i.e. every core) and weight storage, passed to LlmEngine. */
const threads = values.threads === undefined ? cpus().length : positiveInt('threads', values.threads);
const weightDtype = values['weight-dtype'];
if (weightDtype !== 'f32' && weightDtype !== 'q8_0') {
  throw new BenchArgError(`--weight-dtype must be f32 or q8_0, got ${JSON.stringify(weightDtype)}`);
}
const BLOCK_SIZE = 16;
const progress = (line: string) => process.stderr.write(`${line}\n`);

/** One sweep point: the median of `repeats` runs at one concurrency. */
interface LevelResult {
  concurrency: number;
  /** Σ tokens of decode-only steps / wall time of those steps (after every sequence has its first token). */
  decodeTokensPerSec: number;
  /** Aggregate decode throughput / concurrency: the speed each stream sees. */
  perSeqTokensPerSec: number;
  /** All output tokens (first tokens included) / first request sent → last token. */
  outputTokensPerSec: number;
  decodeStepMs: number;
  decodeBatchSize: number;
  itlMs: { mean: number; p50: number; p99: number };
  tpotMeanMs: number;
  ttftMs: { mean: number; p50: number; p99: number };
  cachedTokens: number;
}

function checkLengths(contextLength: number): void {
  const longest = Math.max(
    config.promptTokens + config.maxTokens,
    config.prefixTokens + config.suffixTokens + 1,
  );
  if (longest > contextLength) {
    throw new BenchArgError(
      `a sequence of ${longest} tokens exceeds the model's context of ${contextLength}: lower --prompt-tokens, ` +
        '--max-tokens or --prefix-tokens',
    );
  }
}

/** Enough KV blocks that the sweep never preempts and the prefix scenario's prefixes stay cached. */
function kvBlocksNeeded(): number {
  const blocks = (tokens: number) => Math.ceil(tokens / BLOCK_SIZE);
  const sweep = Math.max(...config.concurrency) * blocks(config.promptTokens + config.maxTokens);
  const prefix = 2 * blocks(config.prefixTokens + config.suffixTokens + 1);
  return sweep + prefix + 16;
}

let seedCounter = 1000;

async function runLevel(engine: LlmEngine, n: number, maxTokens: number): Promise<LevelResult> {
  const vocab = engine.info.vocabSize;
  const requests = Array.from({ length: n }, () => {
    const seed = seedCounter++;
    return benchRequest(`batch-${seed}`, syntheticPrompt(config.promptTokens, seed, vocab), maxTokens);
  });
  const { timings, steps } = await runConcurrentBatch(engine, requests);
  const decode = decodePhase(steps);
  const metrics = timings.map(requestMetrics);
  const itl = metrics.flatMap((m) => m.itlMs);
  const ttft = metrics.map((m) => m.ttftMs);
  const started = Math.min(...timings.map((t) => t.sentAt));
  const ended = Math.max(...timings.map((t) => t.tokenTimes[t.tokenTimes.length - 1] ?? t.sentAt));
  const outputTokens = metrics.reduce((sum, m) => sum + m.outputTokens, 0);
  return {
    concurrency: n,
    decodeTokensPerSec: decode.tokensPerSec,
    perSeqTokensPerSec: decode.tokensPerSec / n,
    outputTokensPerSec: (outputTokens / (ended - started)) * 1000,
    decodeStepMs: decode.meanStepMs,
    decodeBatchSize: decode.meanBatchSize,
    itlMs: { mean: mean(itl), p50: percentile(itl, 50), p99: percentile(itl, 99) },
    tpotMeanMs: mean(metrics.map((m) => m.tpotMs).filter(Number.isFinite)),
    ttftMs: { mean: mean(ttft), p50: percentile(ttft, 50), p99: percentile(ttft, 99) },
    cachedTokens: timings.reduce((sum, t) => sum + t.numCachedTokens, 0),
  };
}

async function sweep(engine: LlmEngine): Promise<LevelResult[]> {
  // Warm-up at the smallest and largest batch: JIT-compiles the kernels for both shapes.
  await runLevel(engine, config.concurrency[0]!, Math.min(config.maxTokens, 8));
  await runLevel(engine, Math.max(...config.concurrency), Math.min(config.maxTokens, 8));
  const results: LevelResult[] = [];
  const bar = startProgress({
    label: 'bench:batching sweep',
    total: config.concurrency.length * config.repeats,
    unit: 'runs',
  });
  for (const n of config.concurrency) {
    const runs: LevelResult[] = [];
    for (let r = 0; r < config.repeats; r++) {
      runs.push(await runLevel(engine, n, config.maxTokens));
      bar.increment(1, `concurrency ${n}`);
    }
    const best = runs[medianIndex(runs, (run) => run.decodeTokensPerSec)]!;
    // On a terminal the bar stands for these lines (a line printed under a live bar breaks it).
    if (bar.mode !== 'bar') {
      progress(
        `  concurrency ${n}: ${best.decodeTokensPerSec.toFixed(1)} decode tok/s (median of ${runs.length})`,
      );
    }
    results.push(best);
  }
  bar.stop();
  return results;
}

/** Batched-16 (or the largest N measured) over single-stream aggregate decode throughput. */
function throughputRatio(levels: LevelResult[]) {
  const single = levels.find((l) => l.concurrency === 1);
  const batched = levels.find((l) => l.concurrency === 16) ?? levels[levels.length - 1];
  if (!single || !batched || batched === single) return null;
  return {
    batched: batched.concurrency,
    single: 1,
    ratio: batched.decodeTokensPerSec / single.decodeTokensPerSec,
  };
}

function sweepTable(levels: LevelResult[]): string {
  return markdownTable(
    [
      { header: 'concurrency' },
      { header: 'decode tok/s (aggregate)' },
      { header: 'tok/s per seq' },
      { header: 'decode step ms' },
      { header: 'ITL mean ms' },
      { header: 'ITL p50 ms' },
      { header: 'ITL p99 ms' },
      { header: 'TPOT mean ms' },
      { header: 'TTFT p50 ms' },
      { header: 'TTFT p99 ms' },
    ],
    levels.map((l) => [
      String(l.concurrency),
      fmt(l.decodeTokensPerSec),
      fmt(l.perSeqTokensPerSec),
      fmt(l.decodeStepMs, 2),
      fmt(l.itlMs.mean, 2),
      fmt(l.itlMs.p50, 2),
      fmt(l.itlMs.p99, 2),
      fmt(l.tpotMeanMs, 2),
      fmt(l.ttftMs.p50),
      fmt(l.ttftMs.p99),
    ]),
  );
}

function prefixTable(p: PrefixTtftResult): string {
  const cached = (xs: number[]) => [...new Set(xs)].join(', ');
  return markdownTable(
    [{ header: 'request', align: 'left' }, { header: 'TTFT median ms' }, { header: 'cached tokens' }],
    [
      [`cold: ${p.prefixTokens}-token prefix not cached`, fmt(p.coldMedianMs), cached(p.coldCachedTokens)],
      [`warm: same prefix cached`, fmt(p.warmMedianMs), cached(p.warmCachedTokens)],
    ],
  );
}

async function writeChart(levels: LevelResult[], subtitle: string): Promise<void> {
  const at = (f: (l: LevelResult) => number) => levels.map((l) => [l.concurrency, f(l)] as const);
  const svg = renderChart({
    panelWidth: 400,
    title: 'Continuous batching: throughput and latency vs concurrency',
    subtitle,
    panels: [
      {
        title: 'Decode throughput',
        xLabel: 'concurrent sequences',
        yLabel: 'tokens / s',
        xScale: 'log2',
        series: [
          { name: 'aggregate', points: at((l) => l.decodeTokensPerSec) },
          { name: 'per sequence', points: at((l) => l.perSeqTokensPerSec), dashed: true },
        ],
      },
      {
        title: 'Inter-token latency',
        xLabel: 'concurrent sequences',
        yLabel: 'ms per token',
        xScale: 'log2',
        series: [
          { name: 'ITL mean', points: at((l) => l.itlMs.mean) },
          { name: 'ITL p50', points: at((l) => l.itlMs.p50), color: '#59a14f' },
          { name: 'ITL p99', points: at((l) => l.itlMs.p99), color: '#e15759', dashed: true },
        ],
      },
      {
        title: 'Time to first token',
        xLabel: 'concurrent sequences',
        yLabel: 'milliseconds',
        xScale: 'log2',
        series: [
          { name: 'TTFT p50', points: at((l) => l.ttftMs.p50) },
          { name: 'TTFT p99', points: at((l) => l.ttftMs.p99), color: '#e15759', dashed: true },
        ],
      },
    ],
  });
  mkdirSync(dirname(svgPath), { recursive: true });
  await writeChartFiles(svgPath, svg);
}

/** Deep-round every number for the JSON line (NaN → null). */
function rounded<T>(value: T): T {
  return JSON.parse(JSON.stringify(value, (_k, v) => (typeof v === 'number' ? round(v, 3) : v)));
}

const machine = describeMachine();
const engine = await LlmEngine.create({
  modelDir: values.model!,
  maxNumSeqs: Math.max(...config.concurrency),
  numKvBlocks: kvBlocksNeeded(),
  blockSize: BLOCK_SIZE,
  enablePrefixCaching: true,
  threads,
  weightDtype,
});
try {
  const c = engine.model.config;
  checkLengths(engine.info.contextLength);
  progress(`sweep: concurrency ${config.concurrency.join(',')} × ${config.repeats} runs`);
  const levels = await sweep(engine);
  progress(`prefix TTFT: ${config.prefixTokens}-token prefix × ${config.prefixRepeats}`);
  const prefix = await measurePrefixTtft(engine, {
    prefixTokens: config.prefixTokens,
    suffixTokens: config.suffixTokens,
    repeats: config.prefixRepeats,
    vocabSize: engine.info.vocabSize,
    seed: 1,
  });
  const ratio = throughputRatio(levels);
  // Prefill rate of the cold prefix request (one long pass, attention over the whole prompt): a reference
  // point for the decode rates above, which batch short rows instead.
  const prefillTokensPerSec = ((config.prefixTokens + config.suffixTokens) / prefix.coldMedianMs) * 1000;
  const modelLine =
    `${engine.info.name} (${c.architecture}, ${c.numLayers} layers, hidden ${c.hiddenSize}), ` +
    `${weightDtype} weights, ${threads} kernel thread${threads === 1 ? '' : 's'}`;
  await writeChart(levels, `${modelLine}; ${machineLine(machine)}`);
  const result = rounded({
    benchmark: 'batching',
    machine,
    model: { name: engine.info.name, dir: values.model, layers: c.numLayers, hidden: c.hiddenSize },
    config: { ...config, smoke: values.smoke, blockSize: BLOCK_SIZE, threads, weightDtype },
    sweep: levels,
    throughputRatio: ratio,
    prefillTokensPerSec,
    prefix,
    chart: svgPath,
  });
  if (!values.json) {
    console.log(`machine: ${machineLine(machine)}`);
    console.log(`model:   ${modelLine}`);
    console.log(
      `load:    ${config.promptTokens}-token prompts, ${config.maxTokens} tokens each, greedy, EOS ignored; ` +
        `median of ${config.repeats} runs per point after a warm-up\n`,
    );
    console.log(sweepTable(levels));
    if (ratio) {
      console.log(
        `\nbatched-${ratio.batched} / single-stream aggregate decode throughput: ${ratio.ratio.toFixed(2)}x`,
      );
    }
    console.log(
      `\nprefix-hit TTFT (${config.suffixTokens}-token suffix, median of ${config.prefixRepeats}):\n`,
    );
    console.log(prefixTable(prefix));
    console.log(`\nprefix-hit TTFT speedup: ${prefix.speedup.toFixed(2)}x`);
    console.log(
      `cold prefill rate: ${prefillTokensPerSec.toFixed(1)} tok/s ` +
        `(one ${config.prefixTokens + config.suffixTokens}-token prompt, for comparison with decode)`,
    );
    console.log(`chart:   ${svgPath}\n`);
  }
  console.log(JSON.stringify(result));
} finally {
  await engine.close();
}
