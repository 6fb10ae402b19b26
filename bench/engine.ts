/**
 * `npm run bench:engine`: how fast is our engine on this machine, next to llama.cpp on the same weights?
 *
 * Three phases per model, each the median of repeats after a warm-up (the machine is shared: medians, and
 * the load average is printed):
 *   prefill        one prompt of P tokens in one forward pass (compute-bound: matrix × matrix)
 *   single-stream  one sequence, one token per step (memory-bound: every weight read once per token)
 *   batched-16     16 concurrent sequences through LlmEngine's scheduler (one weight read serves 16 tokens)
 *   q8_0 single-stream  single-stream with q8_0 weights, ours vs llama.cpp on a q8_0 GGUF (lib/engine-q8.ts)
 *   kernels        each matmul kernel of the shape on one thread, as a fraction of this core's WebAssembly
 *                  SIMD roofline (lib/wasm-roofline.ts, lib/kernel-roofline.ts)
 * Models: a random-weight checkpoint of `--shape` (smollm2-135m, with the bundled fortune-llama too, or
 * tinyllama-1.1b; written to .dhw/ on first use). llama.cpp (node-llama-cpp, CPU build, same thread count,
 * same token ids, f32 GGUF exported by `dhw model convert`) runs the same workload when bench/llama-cpp is
 * installed. Ours runs the fused multiply-add kernels (`--relaxed-simd`) unless --exact. Tests never
 * assert these numbers.
 *
 * Runs alternate between the two engines (ABBA...), so a busy neighbour slows both alike.
 *
 * Options: --smoke (tiny counts, one repeat) --check (llama.cpp parity + GGUF oracle checks first)
 *          --shape smollm2-135m|tinyllama-1.1b --exact (ours on the exact mul+add kernels)
 *          --phases prefill,decode,batched,q8,kernels (default: all)
 *          --threads N (ours and llama.cpp's; default: all cores) --prompt-tokens 128 --decode-tokens 32
 *          --batch-prompt-tokens 16 --repeats 5
 * The last line: `vs llama.cpp: batched-16 X.XXx, single-stream Y.YYx, prefill Z.ZZx, q8_0 single-stream W.WWx`
 * (the shape's model; n/a for a phase not run).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { LlmEngine } from '../src/engine/index.ts';
import {
  convertToGguf,
  LlamaModel,
  loadModelConfig,
  type ModelConfig,
  type RandomShape,
  SequenceSession,
  writeRandomCheckpointAsync,
} from '../src/model/index.ts';
import { defaultModelDir, repoRoot } from '../src/util/paths.ts';
import { startProgress } from '../src/util/progress.ts';
import { median } from '../src/util/stats.ts';
import { decodePhase, runConcurrentBatch } from './lib/concurrent-batch.ts';
import { measureQ8SingleStream, type Q8BenchResult } from './lib/engine-q8.ts';
import { measureKernelFractions, printKernelFractions } from './lib/kernel-roofline.ts';
import { describeMachine, machineLine } from './lib/machine.ts';
import { benchRequest, syntheticPrompt } from './lib/prompts.ts';
import { measureRoofline } from './lib/wasm-roofline.ts';
import { openLlamaCppRunner, type PhaseRunner, type PhaseWorkload } from './llama-cpp/llama-cpp-bench.ts';
import { INSTALL_HINT, loadLlamaCpp } from './llama-cpp/node-llama-cpp.ts';

const BATCH = 16;
const { values } = parseArgs({
  options: {
    smoke: { type: 'boolean', default: false },
    check: { type: 'boolean', default: false },
    threads: { type: 'string', default: String(cpus().length) },
    'prompt-tokens': { type: 'string', default: '128' },
    'decode-tokens': { type: 'string', default: '32' },
    'batch-prompt-tokens': { type: 'string', default: '16' },
    repeats: { type: 'string', default: '5' },
    shape: { type: 'string', default: 'smollm2-135m' },
    exact: { type: 'boolean', default: false },
    phases: { type: 'string', default: 'prefill,decode,batched,q8,kernels' },
  },
});
const SHAPES: RandomShape[] = ['smollm2-135m', 'tinyllama-1.1b'];
const shape = values.shape as RandomShape;
if (!SHAPES.includes(shape)) {
  console.error(`--shape must be one of ${SHAPES.join(', ')}, got ${values.shape}`);
  process.exit(2);
}
const ALL_PHASES = ['prefill', 'decode', 'batched', 'q8', 'kernels'] as const;
type PhaseName = (typeof ALL_PHASES)[number];
const phases = new Set(values.phases!.split(',').map((p) => p.trim()));
const unknown = [...phases].filter((p) => !(ALL_PHASES as readonly string[]).includes(p));
if (unknown.length > 0) {
  console.error(`--phases takes ${ALL_PHASES.join(',')}; unknown: ${unknown.join(',')}`);
  process.exit(2);
}
const runs = (p: PhaseName): boolean => phases.has(p);
/** Ours on the fused multiply-add kernels (relaxed SIMD) unless --exact. */
const relaxedSimd = values.exact !== true;
const smoke = values.smoke === true;
const counts = {
  prompt: smoke ? 16 : Number(values['prompt-tokens']),
  decode: smoke ? 6 : Number(values['decode-tokens']),
  batchPrompt: smoke ? 8 : Number(values['batch-prompt-tokens']),
  repeats: smoke ? 1 : Number(values.repeats),
  threads: Number(values.threads),
};

if (values.check) {
  const files = ['greedy-parity.check.ts', 'gguf-oracle.check.ts'].map((f) =>
    join(repoRoot, 'bench/llama-cpp', f),
  );
  const check = spawnSync(process.execPath, ['--import', 'tsx', '--test', ...files], { stdio: 'inherit' });
  if (check.status !== 0) process.exit(check.status ?? 1);
}

interface BenchModel {
  name: string;
  dir: string;
  gguf: string;
}

/** Writes the random checkpoint of `shape` once, showing progress (TinyLlama: 4.4 GB). */
async function writeShape(dir: string): Promise<void> {
  console.error(`writing a random-weight ${shape} checkpoint to ${dir} (once)...`);
  const progress = startProgress({ label: `writing ${shape}`, total: 0, unit: 'bytes' });
  await writeRandomCheckpointAsync(
    dir,
    { shape, seed: 0 },
    {
      onProgress: ({ doneBytes, totalBytes }) => {
        progress.setTotal(totalBytes);
        progress.update(doneBytes);
      },
    },
  ).finally(() => progress.stop());
}

/** The shape's random checkpoint (and fortune-llama beside SmolLM2), each with an f32 GGUF export for llama.cpp. */
async function prepareModels(): Promise<BenchModel[]> {
  const cache = join(repoRoot, '.dhw', 'bench-models');
  mkdirSync(cache, { recursive: true });
  const shapeDir = join(cache, shape);
  if (!existsSync(join(shapeDir, 'config.json'))) await writeShape(shapeDir);
  const models: BenchModel[] = [];
  const list: [string, string][] = [[`${shape} (random)`, shapeDir]];
  if (shape === 'smollm2-135m' && !smoke) list.unshift(['fortune-llama', defaultModelDir]);
  for (const [name, dir] of list) {
    const gguf = join(cache, `${dir.split('/').pop()}-f32.gguf`);
    const source = join(dir, 'config.json');
    if (llama.ok && (!existsSync(gguf) || statSync(gguf).mtimeMs < statSync(source).mtimeMs)) {
      console.error(`exporting ${name} to ${gguf} for llama.cpp (once)...`);
      await convertToGguf(dir, { out: gguf });
    }
    models.push({ name, dir, gguf });
  }
  return models;
}

function workloadFor(config: ModelConfig): PhaseWorkload {
  const v = config.vocabSize;
  return {
    prefillPrompt: syntheticPrompt(counts.prompt, 1, v),
    decodePrompt: syntheticPrompt(8, 2, v),
    decodeTokens: counts.decode,
    batchPrompts: Array.from({ length: BATCH }, (_, i) => syntheticPrompt(counts.batchPrompt, 100 + i, v)),
    threads: counts.threads,
  };
}

/**
 * Our engine: SequenceSession for prefill and single-stream, LlmEngine (16 concurrent requests) for batched.
 * LlmEngine loads its own copy of the weights: it is opened on the first batched run and the plain model is
 * closed then (phases run in order), so only one copy is ever loaded (TinyLlama: 4.4 GB each).
 */
async function openOurRunner(dir: string, w: PhaseWorkload): Promise<PhaseRunner> {
  let model: LlamaModel | null = await LlamaModel.load(dir, { threads: w.threads, relaxedSimd });
  let engine: LlmEngine | null = null;
  let round = 0;
  const plainModel = (): LlamaModel => {
    if (!model) throw new Error('prefill and decode run before batched');
    return model;
  };
  return {
    prefill: async () => {
      const session = new SequenceSession(plainModel(), { maxTokens: w.prefillPrompt.length });
      const t0 = performance.now();
      session.feed(w.prefillPrompt);
      return (w.prefillPrompt.length / (performance.now() - t0)) * 1000;
    },
    decode: async () => {
      const session = new SequenceSession(plainModel(), {
        maxTokens: w.decodePrompt.length + w.decodeTokens,
      });
      let token = session.feedGreedy(w.decodePrompt); // greedy: argmax in the kernels' memory, no logits copy
      const t0 = performance.now(); // first token out: from here on, one token per step
      for (let i = 1; i < w.decodeTokens; i++) token = session.feedGreedy([token]);
      return ((w.decodeTokens - 1) / (performance.now() - t0)) * 1000;
    },
    batched: async () => {
      if (!engine) {
        await model?.close();
        model = null;
        engine = await LlmEngine.create({
          modelDir: dir,
          maxNumSeqs: BATCH,
          enablePrefixCaching: false,
          threads: w.threads,
          relaxedSimd,
        });
      }
      round++;
      const requests = w.batchPrompts.map((p, i) => benchRequest(`r${round}-${i}`, p, w.decodeTokens));
      return decodePhase((await runConcurrentBatch(engine, requests)).steps).tokensPerSec;
    },
    close: async () => {
      await engine?.close();
      await model?.close();
    },
  };
}

const PHASES = ['prefill', 'decode', 'batched'] as const;
const NOT_RUN = Number.NaN;

/**
 * Each phase: one warm-up per engine, then `repeats` timed runs alternating between the engines (order
 * swapped every round), so on a shared machine both see the same background load. Returns tokens/s samples
 * per engine and phase.
 */
async function measureInterleaved(runners: PhaseRunner[], repeats: number): Promise<number[][][]> {
  const samples = runners.map(() => PHASES.map((): number[] => []));
  for (const [p, phase] of PHASES.entries()) {
    if (!runs(phase)) {
      for (const s of samples) s[p]!.push(NOT_RUN);
      continue;
    }
    for (const r of runners) await r[phase]();
    for (let round = 0; round < repeats; round++) {
      const order = runners.map((_, i) => i);
      if (round % 2 === 1) order.reverse();
      for (const i of order) samples[i]![p]!.push(await runners[i]![phase]());
    }
    // Each phase's medians as soon as it ends: a long run (TinyLlama on a busy box) shows progress.
    console.error(
      `  ${phase}: ${samples.map((s) => median(s[p]!).toFixed(2)).join(' vs ')} tok/s (ours vs llama.cpp)`,
    );
  }
  return samples;
}

/** Matmul FLOPs per token ≈ 2 × weights touched (embedding lookup and attention scores excluded). */
function flopsPerToken(c: ModelConfig): number {
  const q = c.numHeads * c.headDim;
  const kv = c.numKvHeads * c.headDim;
  const perLayer = c.hiddenSize * (2 * q + 2 * kv) + 3 * c.hiddenSize * c.intermediateSize;
  return 2 * (c.numLayers * perLayer + c.hiddenSize * c.vocabSize);
}

interface Row {
  model: string;
  engine: string;
  tps: [number, number, number];
  flops: number;
}

function rowFor(model: string, engine: string, s: number[][], flops: number): Row {
  return { model, engine, tps: [median(s[0]!), median(s[1]!), median(s[2]!)], flops };
}

const fixed = (t: number, digits: number): string => (Number.isNaN(t) ? 'n/a' : t.toFixed(digits));
/** A ratio as `1.23x`, or `n/a` for a phase not run. */
const times = (r: number): string => (Number.isNaN(r) ? 'n/a' : `${r.toFixed(2)}x`);

function printTable(rows: Row[]): void {
  console.log(
    '| model | engine | prefill tok/s | single-stream tok/s | batched-16 tok/s | GFLOP/s (prefill / single / batched) |',
  );
  console.log('|---|---|---:|---:|---:|---:|');
  for (const r of rows) {
    if (r.flops === 0) {
      console.log(`| ${r.model} | **${r.engine}** | ${r.tps.map((t) => `**${times(t)}**`).join(' | ')} | |`);
      continue;
    }
    const gf = r.tps.map((t) => fixed((t * r.flops) / 1e9, 2)).join(' / ');
    console.log(`| ${r.model} | ${r.engine} | ${r.tps.map((t) => fixed(t, 1)).join(' | ')} | ${gf} |`);
  }
}

const GIB = 2 ** 30;
const rssGiB = (): string => (process.memoryUsage().rss / GIB).toFixed(2);

const machine = describeMachine();
console.log(`machine: ${machineLine(machine)}`);
console.log(
  `workload: prefill ${counts.prompt} tokens; single-stream ${counts.decode} tokens after an 8-token prompt; ` +
    `batched ${BATCH} × (${counts.batchPrompt}-token prompt + ${counts.decode} tokens); median of ${counts.repeats} ` +
    `after a warm-up, engines interleaved; threads ${counts.threads}; ours on the ` +
    `${relaxedSimd ? 'fused multiply-add (--relaxed-simd)' : 'exact (mul+add)'} kernels\n`,
);
const llama = await loadLlamaCpp();
const oursLabel = relaxedSimd ? 'ours (fp32, fma)' : 'ours (fp32, exact)';
const rows: Row[] = [];
let headline: number[] | null = null; // the shape's ratios: batched, single, prefill
let q8: Q8BenchResult | null = null;
const models = await prepareModels();
const shapeModel = models[models.length - 1]!;
for (const m of models) {
  const config = loadModelConfig(m.dir);
  const w = workloadFor(config);
  const flops = flopsPerToken(config);
  const runners = [await openOurRunner(m.dir, w)];
  console.error(`${m.name}: ours loaded, RSS ${rssGiB()} GiB`);
  if (llama.ok) runners.push(await openLlamaCppRunner(llama.llama, m.gguf, w));
  const samples = await measureInterleaved(runners, counts.repeats);
  for (const r of runners) await r.close();
  const ours = rowFor(m.name, oursLabel, samples[0]!, flops);
  rows.push(ours);
  if (samples[1]) {
    const theirs = rowFor(m.name, 'llama.cpp (f32 GGUF)', samples[1], flops);
    const ratios = [0, 1, 2].map((i) => ours.tps[i]! / theirs.tps[i]!) as Row['tps'];
    rows.push(theirs, { ...ours, engine: 'ours ÷ llama.cpp', tps: ratios, flops: 0 });
    if (m === shapeModel) headline = [ratios[2], ratios[1], ratios[0]];
  }
  console.error(
    `${m.name} done: ${rows
      .slice(-3)
      .map((r) => `${r.engine} ${r.tps.map((t) => fixed(t, 2)).join(' / ')}`)
      .join('; ')}`,
  );
}
if (llama.ok && runs('q8')) {
  const cacheDir = join(repoRoot, '.dhw', 'bench-models');
  q8 = await measureQ8SingleStream({
    dir: shapeModel.dir,
    cacheDir,
    threads: counts.threads,
    decodeTokens: counts.decode,
    repeats: counts.repeats,
    llama: llama.llama,
    relaxedSimd,
  });
}
printTable(rows);
if (q8) {
  // Engine labels come from lib/engine-q8.ts (median single-stream tokens/s each, interleaved runs).
  const perEngine = Object.entries(q8.tokensPerSec).map(([label, tps]) => `${label} ${tps.toFixed(1)} tok/s`);
  console.log(
    `\nq8_0 single-stream (${shapeModel.name}): ${perEngine.join(', ')}; ours ÷ llama.cpp ${times(q8.ratio ?? NOT_RUN)}` +
      ` (per CPU-second ${times(q8.cpuRatio ?? NOT_RUN)}: counts only the time each engine ran, steadier on a busy box)`,
  );
}
if (runs('kernels')) {
  const roofline = measureRoofline();
  const figures = await measureKernelFractions(
    loadModelConfig(shapeModel.dir),
    roofline,
    relaxedSimd,
    counts.prompt,
  );
  printKernelFractions(roofline, figures, relaxedSimd);
}
if (llama.ok) await llama.llama.dispose();
else console.log(`\nllama.cpp baseline not measured: ${llama.reason}`);
// maxRSS: the high-water mark of this process, ours and llama.cpp (in-process through node-llama-cpp) together.
console.log(
  `\npeak RSS of this process (ours + llama.cpp in-process): ${((process.resourceUsage().maxRSS * 1024) / GIB).toFixed(2)} GiB`,
);
console.log(
  `ratios are ours ÷ llama.cpp (above 1 = we are faster); load average at start ${machine.loadAvg1m} on ${machine.cores} cores`,
);
if (headline || q8) {
  const [batched, single, prefill] = headline ?? [NOT_RUN, NOT_RUN, NOT_RUN];
  console.log(
    `vs llama.cpp: batched-16 ${times(batched!)}, single-stream ${times(single!)}, ` +
      `prefill ${times(prefill!)}, q8_0 single-stream ${times(q8?.ratio ?? NOT_RUN)}`,
  );
} else console.log(`vs llama.cpp: not measured (install the baseline: ${INSTALL_HINT})`);
