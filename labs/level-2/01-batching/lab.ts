/**
 * Lab 2.1: continuous batching. N requests at once against one engine (N = 1, 2, 4, 8, 16): aggregate decode
 * tokens/s rises with N while each stream's inter-token latency rises a little, because one decode step
 * reads every weight once whatever the number of sequences in it. Then a request joining a running batch
 * mid-flight (the "continuous" part), and the arithmetic behind "decode is memory-bound".
 * Like request coalescing (Nagle's algorithm, `sendmmsg`, a batched `fsync`): a fixed per-operation cost
 * shared by everything that rides along.
 *
 * @expect /concurrency\s+aggregate decode tok\/s/
 * @expect /Batching gain: \d+(\.\d+)?× the single-stream decode rate at \d+ concurrent/
 * @expect Mocker (GPU-fitted timing model)
 * @expect /Chart: \S*2\.1-batching\.svg and \.png/
 * @expect /a request joined a running batch at step \d+/
 * @expect FLOPs per byte of weights
 * @expect Lab complete.
 */
import { decodePhase, runConcurrentBatch, type TimedStep } from '../../../bench/lib/concurrent-batch.ts';
import { benchRequest, syntheticPrompt } from '../../../bench/lib/prompts.ts';
import { requestMetrics, timeRequest } from '../../../bench/lib/request-timing.ts';
import { median, medianIndex } from '../../../src/util/stats.ts';
import { LlmEngine } from '../../../src/engine/index.ts';
import { describeModel } from '../../../src/model/index.ts';
import { defaultModelDir } from '../../../src/util/paths.ts';
import { writeLabChart } from '../../lib/lab-chart.ts';
import { argValue, banner, formatBytes, isSmoke, note, printTable, runLab, step } from '../../lib/lab-kit.ts';
import { mockerSweep } from './mocker-sweep.ts';
import { printRoofline } from './roofline.ts';

const SMOKE = isSmoke();
const LEVELS = (argValue('concurrency') ?? (SMOKE ? '1,2,4' : '1,2,4,8,16')).split(',').map(Number);
const PROMPT_TOKENS = Number(argValue('prompt-tokens') ?? (SMOKE ? 16 : 32));
const MAX_TOKENS = Number(argValue('max-tokens') ?? (SMOKE ? 8 : 64));
const REPEATS = Number(argValue('repeats') ?? (SMOKE ? 1 : 3));
const BLOCK_SIZE = 16;

interface Level {
  n: number;
  aggregate: number;
  perSeq: number;
  stepMs: number;
  batch: number;
  itlP50: number;
  ttftP50: number;
}

let seed = 7000;

async function runLevel(engine: LlmEngine, n: number): Promise<Level> {
  const vocab = engine.info.vocabSize;
  // Distinct random prompts: no shared prefix, so the prefix cache cannot flatter the numbers.
  const requests = Array.from({ length: n }, () =>
    benchRequest(`b-${seed}`, syntheticPrompt(PROMPT_TOKENS, seed++, vocab), MAX_TOKENS),
  );
  const { timings, steps } = await runConcurrentBatch(engine, requests);
  const decode = decodePhase(steps);
  const metrics = timings.map(requestMetrics);
  return {
    n,
    aggregate: decode.tokensPerSec,
    perSeq: decode.tokensPerSec / n,
    stepMs: decode.meanStepMs,
    batch: decode.meanBatchSize,
    itlP50: median(metrics.flatMap((m) => m.itlMs)),
    ttftP50: median(metrics.map((m) => m.ttftMs)),
  };
}

async function sweep(engine: LlmEngine): Promise<Level[]> {
  const results: Level[] = [];
  for (const n of LEVELS) {
    const runs: Level[] = [];
    for (let r = 0; r < REPEATS; r++) runs.push(await runLevel(engine, n));
    results.push(runs[medianIndex(runs, (run) => run.aggregate)] as Level);
  }
  return results;
}

/** Four long requests running, then two short ones arrive: they join the batch at the next step. */
async function joinMidFlight(engine: LlmEngine): Promise<void> {
  const vocab = engine.info.vocabSize;
  const steps: TimedStep[] = [];
  const unsubscribe = engine.onStep((e) => steps.push({ ...e, endedAt: performance.now() }));
  try {
    const long = Array.from({ length: 4 }, (_, i) =>
      benchRequest(`long-${i}`, syntheticPrompt(PROMPT_TOKENS, 9000 + i, vocab), 16),
    );
    // Each stream is consumed from the start (a request enters the engine on its stream's first read).
    let sixTokensIn: () => void = () => {};
    const running = new Promise<void>((resolve) => {
      sixTokensIn = resolve;
    });
    const longDone = long.map(async (request, i) => {
      let count = 0;
      for await (const _ of engine.generate(request)) if (i === 0 && ++count === 6) sixTokensIn();
    });
    await running; // the batch of 4 has been decoding for a few steps
    const joinedAtStep = steps.length + 1;
    const late = [0, 1].map((i) =>
      timeRequest(engine, benchRequest(`late-${i}`, syntheticPrompt(PROMPT_TOKENS, 9100 + i, vocab), 4)),
    );
    await Promise.all([...longDone, ...late]);
    const shown = steps.filter(
      (s, i) => i === 0 || s.numSeqs !== steps[i - 1]?.numSeqs || s.numPrefillTokens > 0,
    );
    printTable(
      ['step', 'sequences in batch', 'prompt tokens (prefill)', 'decode tokens', 'step ms', 'waiting'],
      shown.map((s) => [
        s.step,
        s.numSeqs,
        s.numPrefillTokens,
        s.numTokens - s.numPrefillTokens,
        s.stepMs.toFixed(2),
        s.numWaiting,
      ]),
    );
    note(`(steps where the batch changed; ${steps.length} steps in all)`);
    note(
      `a request joined a running batch at step ${steps[joinedAtStep - 1]?.step ?? joinedAtStep}: its prefill ` +
        "rode in the same forward pass as the others' decode tokens. No one waited for the batch to drain.",
    );
  } finally {
    unsubscribe();
  }
}

/** The two sweeps as curves: throughput (ours and the mocker's) and per-token latency vs concurrency. */
async function writeBatchingChart(levels: Level[], mockerCurve: Array<[number, number]>): Promise<void> {
  const at = (value: (l: Level) => number) => levels.map((l) => [l.n, value(l)] as [number, number]);
  await writeLabChart('2.1', 'batching', {
    title: 'Continuous batching: throughput and latency vs concurrency',
    subtitle: `fortune-llama, ${PROMPT_TOKENS}-token prompts, ${MAX_TOKENS} output tokens${SMOKE ? ' (smoke run)' : ''}`,
    panels: [
      {
        title: 'Decode throughput',
        xLabel: 'concurrent sequences',
        yLabel: 'tokens / s',
        xScale: 'log2',
        yFromZero: true,
        series: [
          { name: 'aggregate (this CPU)', points: at((l) => l.aggregate) },
          { name: 'per stream (this CPU)', points: at((l) => l.perSeq), dashed: true },
          { name: 'aggregate (mocker, GPU timing)', points: mockerCurve },
        ],
      },
      {
        title: 'Latency per token',
        xLabel: 'concurrent sequences',
        yLabel: 'ms',
        xScale: 'log2',
        yFromZero: true,
        series: [
          { name: 'ITL p50', points: at((l) => l.itlP50) },
          { name: 'step time', points: at((l) => l.stepMs), dashed: true },
        ],
      },
    ],
  });
}

async function main(): Promise<void> {
  banner('2.1', 'Continuous batching');

  step('Start one engine: up to 16 sequences per step, enough KV blocks that nothing is preempted');
  const maxN = Math.max(...LEVELS);
  const numKvBlocks = maxN * Math.ceil((PROMPT_TOKENS + MAX_TOKENS + 16) / BLOCK_SIZE) + 32;
  const engine = await LlmEngine.create({
    modelDir: defaultModelDir,
    numKvBlocks,
    maxNumSeqs: Math.max(16, maxN),
  });
  try {
    note(`Each request: ${PROMPT_TOKENS} random prompt tokens, greedy, exactly ${MAX_TOKENS} output tokens.`);
    await runLevel(engine, 1); // warm-up: JIT and scratch buffers
    await runLevel(engine, maxN);

    step(`Throughput vs concurrency (${REPEATS === 1 ? 'one run' : `median of ${REPEATS} runs`} per level)`);
    const levels = await sweep(engine);
    const base = levels[0] as Level;
    printTable(
      [
        'concurrency',
        'aggregate decode tok/s',
        'per-stream tok/s',
        'step ms',
        'seqs/step',
        'ITL p50 ms',
        'TTFT p50 ms',
        'vs N=1',
      ],
      levels.map((l) => [
        l.n,
        Math.round(l.aggregate),
        Math.round(l.perSeq),
        l.stepMs.toFixed(2),
        l.batch.toFixed(1),
        l.itlP50.toFixed(2),
        l.ttftP50.toFixed(1),
        `${(l.aggregate / base.aggregate).toFixed(2)}×`,
      ]),
    );
    const top = levels[levels.length - 1] as Level;
    note(
      `Batching gain: ${(top.aggregate / base.aggregate).toFixed(2)}× the single-stream decode rate at ${top.n} concurrent, ` +
        `for ${(top.itlP50 / base.itlP50).toFixed(1)}× the inter-token latency of each stream.`,
    );

    step('The same sweep on the mocker: what a GPU-shaped step time does');
    const mockerCurve = await mockerSweep(LEVELS, SMOKE ? 8 : 32, PROMPT_TOKENS);
    await writeBatchingChart(levels, mockerCurve);

    step('Continuous batching: requests join and leave between steps');
    await joinMidFlight(engine);

    step('Why decode is memory-bound: bytes moved vs arithmetic done per step');
    const model = await describeModel(defaultModelDir);
    note(
      `Parameters: ${model.parameters.toLocaleString('en-US')}, held as fp32: ${formatBytes(model.parameters * 4)}`,
    );
    printRoofline(
      model.parameters,
      levels.map((l) => ({ n: l.n, stepMs: l.stepMs })),
    );
  } finally {
    await engine.close();
  }
}

runLab(main);
