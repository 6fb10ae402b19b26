/**
 * `npm run bench:engine`: how fast is our engine on this machine, next to llama.cpp on the same weights?
 *
 * Three phases per model, each the median of repeats after a warm-up (the machine is shared: medians, and
 * the load average is printed):
 *   prefill        one prompt of P tokens in one forward pass (compute-bound: matrix × matrix)
 *   single-stream  one sequence, one token per step (memory-bound: every weight read once per token)
 *   batched-16     16 concurrent sequences through LlmEngine's scheduler (one weight read serves 16 tokens)
 * Models: the bundled fortune-llama and a random-weight SmolLM2-135M shape (written to .dhw/ on first use).
 * llama.cpp (node-llama-cpp, CPU build, same thread count, same token ids, f32 GGUF exported by
 * `dhw model convert`) runs the same workload when bench/llama-cpp is installed. Tests never assert these.
 *
 * Runs alternate between the two engines (ABBA...), so a busy neighbour slows both alike.
 *
 * Options: --smoke (tiny counts, one repeat) --check (llama.cpp parity + GGUF oracle checks first)
 *          --threads N (ours and llama.cpp's; default: all cores) --prompt-tokens 128 --decode-tokens 32
 *          --batch-prompt-tokens 16 --repeats 5
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { LlmEngine } from '../src/engine/index.ts';
import {
  argmax,
  convertToGguf,
  LlamaModel,
  loadModelConfig,
  type ModelConfig,
  SequenceSession,
  writeRandomCheckpoint,
} from '../src/model/index.ts';
import { defaultModelDir, repoRoot } from '../src/util/paths.ts';
import { decodePhase, runConcurrentBatch } from './lib/concurrent-batch.ts';
import { describeMachine, machineLine } from './lib/machine.ts';
import { benchRequest, syntheticPrompt } from './lib/prompts.ts';
import { median } from '../src/util/stats.ts';
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
  },
});
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

/** fortune-llama and the SmolLM2-135M shape, each with an f32 GGUF export for llama.cpp (made once). */
async function prepareModels(): Promise<BenchModel[]> {
  const cache = join(repoRoot, '.dhw', 'bench-models');
  mkdirSync(cache, { recursive: true });
  const smol = join(cache, 'smollm2-135m');
  if (!existsSync(join(smol, 'config.json'))) {
    console.error(`writing a random-weight SmolLM2-135M checkpoint to ${smol} (once)...`);
    writeRandomCheckpoint(smol, { shape: 'smollm2-135m', seed: 0 });
  }
  const models: BenchModel[] = [];
  for (const [name, dir] of [
    ['fortune-llama', defaultModelDir],
    ['smollm2-135m (random)', smol],
  ] as const) {
    const gguf = join(cache, `${dir.split('/').pop()}-f32.gguf`);
    const source = join(dir, 'config.json');
    if (!existsSync(gguf) || statSync(gguf).mtimeMs < statSync(source).mtimeMs)
      await convertToGguf(dir, { out: gguf });
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

/** Our engine: SequenceSession for prefill and single-stream, LlmEngine (16 concurrent requests) for batched. */
async function openOurRunner(dir: string, w: PhaseWorkload): Promise<PhaseRunner> {
  const model = await LlamaModel.load(dir, { threads: w.threads });
  // LlmEngine loads its own copy of the weights, with the same thread count.
  const engine = await LlmEngine.create({
    modelDir: dir,
    maxNumSeqs: BATCH,
    enablePrefixCaching: false,
    threads: w.threads,
  });
  let round = 0;
  return {
    prefill: async () => {
      const session = new SequenceSession(model, { maxTokens: w.prefillPrompt.length });
      const t0 = performance.now();
      session.feed(w.prefillPrompt);
      return (w.prefillPrompt.length / (performance.now() - t0)) * 1000;
    },
    decode: async () => {
      const session = new SequenceSession(model, { maxTokens: w.decodePrompt.length + w.decodeTokens });
      let token = argmax(session.feed(w.decodePrompt));
      const t0 = performance.now(); // first token out: from here on, one token per step
      for (let i = 1; i < w.decodeTokens; i++) token = argmax(session.feed([token]));
      return ((w.decodeTokens - 1) / (performance.now() - t0)) * 1000;
    },
    batched: async () => {
      round++;
      const requests = w.batchPrompts.map((p, i) => benchRequest(`r${round}-${i}`, p, w.decodeTokens));
      return decodePhase((await runConcurrentBatch(engine, requests)).steps).tokensPerSec;
    },
    close: async () => {
      await engine.close();
      await model.close();
    },
  };
}

const PHASES = ['prefill', 'decode', 'batched'] as const;

/**
 * Each phase: one warm-up per engine, then `repeats` timed runs alternating between the engines (order
 * swapped every round), so on a shared machine both see the same background load. Returns tokens/s samples
 * per engine and phase.
 */
async function measureInterleaved(runners: PhaseRunner[], repeats: number): Promise<number[][][]> {
  const samples = runners.map(() => PHASES.map((): number[] => []));
  for (const [p, phase] of PHASES.entries()) {
    for (const r of runners) await r[phase]();
    for (let round = 0; round < repeats; round++) {
      const order = runners.map((_, i) => i);
      if (round % 2 === 1) order.reverse();
      for (const i of order) samples[i]![p]!.push(await runners[i]![phase]());
    }
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

function printTable(rows: Row[]): void {
  console.log(
    '| model | engine | prefill tok/s | single-stream tok/s | batched-16 tok/s | GFLOP/s (prefill / single / batched) |',
  );
  console.log('|---|---|---:|---:|---:|---:|');
  for (const r of rows) {
    if (r.flops === 0) {
      console.log(
        `| ${r.model} | **${r.engine}** | ${r.tps.map((t) => `**${t.toFixed(2)}x**`).join(' | ')} | |`,
      );
      continue;
    }
    const gf = r.tps.map((t) => ((t * r.flops) / 1e9).toFixed(2)).join(' / ');
    console.log(`| ${r.model} | ${r.engine} | ${r.tps.map((t) => t.toFixed(1)).join(' | ')} | ${gf} |`);
  }
}

const machine = describeMachine();
console.log(`machine: ${machineLine(machine)}`);
console.log(
  `workload: prefill ${counts.prompt} tokens; single-stream ${counts.decode} tokens after an 8-token prompt; ` +
    `batched ${BATCH} × (${counts.batchPrompt}-token prompt + ${counts.decode} tokens); median of ${counts.repeats} ` +
    `after a warm-up, engines interleaved; threads ${counts.threads}\n`,
);
const llama = await loadLlamaCpp();
const rows: Row[] = [];
let ratios: string | null = null;
for (const m of await prepareModels()) {
  const config = loadModelConfig(m.dir);
  const w = workloadFor(config);
  const flops = flopsPerToken(config);
  const runners = [await openOurRunner(m.dir, w)];
  if (llama.ok) runners.push(await openLlamaCppRunner(llama.llama, m.gguf, w));
  const samples = await measureInterleaved(runners, counts.repeats);
  for (const r of runners) await r.close();
  const ours = rowFor(m.name, 'ours (fp32)', samples[0]!, flops);
  rows.push(ours);
  if (samples[1]) {
    const theirs = rowFor(m.name, 'llama.cpp (f32 GGUF)', samples[1], flops);
    const ratio = (i: number): string => (ours.tps[i]! / theirs.tps[i]!).toFixed(2);
    rows.push(theirs, {
      ...ours,
      engine: 'ours ÷ llama.cpp',
      tps: [0, 1, 2].map((i) => Number(ratio(i))) as Row['tps'],
      flops: 0,
    });
    if (m.name.startsWith('smollm2'))
      ratios = `vs llama.cpp: batched-16 ${ratio(2)}x, single-stream ${ratio(1)}x`;
  }
  console.error(
    `${m.name} done: ${rows
      .slice(-3)
      .map((r) => `${r.engine} ${r.tps.map((t) => t.toFixed(2)).join(' / ')}`)
      .join('; ')}`,
  );
}
printTable(rows);
if (llama.ok) await llama.llama.dispose();
else console.log(`\nllama.cpp baseline not measured: ${llama.reason}`);
console.log(
  `\nratios are ours ÷ llama.cpp (above 1 = we are faster); load average at start ${machine.loadAvg1m} on ${machine.cores} cores`,
);
console.log(ratios ?? `vs llama.cpp: not measured (install the baseline: ${INSTALL_HINT})`);
