/**
 * q8_0 single-stream decode, ours against llama.cpp on the same weights (issue 16 item 2): our engine with
 * `--weight-dtype q8_0` (q8_0 × q8_0 integer kernel, and the older f32-activation kernel for comparison)
 * and llama.cpp on a q8_0 GGUF exported by `dhw model convert --dtype q8_0` from the same checkpoint.
 * Runs alternate between the engines (order reversed every round), so background load hits all alike.
 *
 * Also reports memory per model: matrix bytes in f32 and q8_0 (what the arena holds) and the RSS of a
 * fresh process holding the model in each dtype (model-rss.ts).
 *
 * Like a codec shoot-out: same input, same machine, alternating runs; only the decoder changes.
 */
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { convertToGguf, LlamaModel, loadModelConfig, SequenceSession } from '../../src/model/index.ts';
import { matrixBytes } from '../../src/model/kernels/index.ts';
import { median } from '../../src/util/stats.ts';
import { openLlamaCppRunner, type PhaseRunner } from '../llama-cpp/llama-cpp-bench.ts';
import type { Llama } from '../llama-cpp/node-llama-cpp.ts';
import { type ModelRss, modelRss } from './model-rss.ts';
import { syntheticPrompt } from './prompts.ts';

export interface Q8BenchOptions {
  /** Checkpoint folder (safetensors); its q8_0 GGUF is written beside it in `cacheDir` once. */
  dir: string;
  cacheDir: string;
  threads: number;
  decodeTokens: number;
  repeats: number;
  /** llama.cpp, or null to measure ours only. */
  llama: Llama | null;
  /**
   * Ours on the relaxed-SIMD kernel module (`--relaxed-simd`): for q8_0 × q8_0 its relaxed-dot tiles on the
   * q8x4-by-4 layout (the same logits bits as the exact module), for f32 activations the FMA tiles.
   */
  relaxedSimd: boolean;
}

export interface Q8MemoryReport {
  f32MatrixBytes: number;
  q8MatrixBytes: number;
  /** a fresh process holding the model (no KV cache), f32 and q8_0 weights */
  f32Rss: ModelRss;
  q8Rss: ModelRss;
}

export interface Q8BenchResult {
  /** median single-stream tokens/s per engine label (wall clock, first token excluded) */
  tokensPerSec: Record<string, number>;
  /**
   * median tokens per CPU-second of this process over each whole run (prompt included), per engine label:
   * on a shared machine this counts only the time the engine actually ran, so it moves less with load
   */
  tokensPerCpuSec: Record<string, number>;
  /** ours (q8_0 × q8_0) ÷ llama.cpp q8_0, or null without llama.cpp: wall tokens/s, and per CPU-second */
  ratio: number | null;
  cpuRatio: number | null;
  memory: Q8MemoryReport;
  gguf: string | null;
}

export const OURS_INT = 'ours q8_0 (int8 activations)';
export const OURS_F32_ACT = 'ours q8_0 (f32 activations)';
export const LLAMA_CPP = 'llama.cpp (q8_0 GGUF)';

/** The q8_0 GGUF export of `dir` in `cacheDir`, rewritten when the checkpoint is newer. */
export async function q8Gguf(dir: string, cacheDir: string): Promise<string> {
  const gguf = join(cacheDir, `${dir.split('/').pop()}-q8_0.gguf`);
  const source = join(dir, 'config.json');
  if (!existsSync(gguf) || statSync(gguf).mtimeMs < statSync(source).mtimeMs)
    await convertToGguf(dir, { out: gguf, dtype: 'q8_0' });
  return gguf;
}

/** One timed single-stream decode run of our model (first token excluded, as for llama.cpp). */
function ourDecodeRunner(model: LlamaModel, prompt: number[], n: number): PhaseRunner {
  const decode = async (): Promise<number> => {
    const session = new SequenceSession(model, { maxTokens: prompt.length + n });
    let token = session.feedGreedy(prompt); // greedy: argmax in the kernels' memory, no logits copy
    const t0 = performance.now();
    for (let i = 1; i < n; i++) token = session.feedGreedy([token]);
    return ((n - 1) / (performance.now() - t0)) * 1000;
  };
  const unused = async (): Promise<number> => Number.NaN;
  return { prefill: unused, decode, batched: unused, close: () => model.close() };
}

/** Measures single-stream q8_0 decode of ours (both kernels) and llama.cpp, interleaved; see the file comment. */
export async function measureQ8SingleStream(o: Q8BenchOptions): Promise<Q8BenchResult> {
  const config = loadModelConfig(o.dir);
  const prompt = syntheticPrompt(8, 2, config.vocabSize);
  const memory: Q8MemoryReport = {
    f32MatrixBytes: matrixBytes(config, 'f32'),
    q8MatrixBytes: matrixBytes(config, 'q8_0'),
    f32Rss: modelRss(o.dir, 'f32'),
    q8Rss: modelRss(o.dir, 'q8_0'),
  };
  const { threads, relaxedSimd } = o;
  const q8Int = await LlamaModel.load(o.dir, { threads, weightDtype: 'q8_0', relaxedSimd });
  const q8F32Act = await LlamaModel.load(o.dir, {
    threads,
    weightDtype: 'q8_0',
    q8Activations: 'f32',
    relaxedSimd,
  });
  const runners: [string, PhaseRunner][] = [
    [OURS_INT, ourDecodeRunner(q8Int, prompt, o.decodeTokens)],
    [OURS_F32_ACT, ourDecodeRunner(q8F32Act, prompt, o.decodeTokens)],
  ];
  let gguf: string | null = null;
  if (o.llama) {
    gguf = await q8Gguf(o.dir, o.cacheDir);
    const workload = {
      prefillPrompt: prompt,
      decodePrompt: prompt,
      decodeTokens: o.decodeTokens,
      batchPrompts: [prompt],
      threads: o.threads,
    };
    runners.push([LLAMA_CPP, await openLlamaCppRunner(o.llama, gguf, workload)]);
  }
  const samples = runners.map((): number[] => []);
  const cpuSamples = runners.map((): number[] => []);
  /** one timed run of engine i: wall tokens/s as the runner reports it, and tokens per CPU-second */
  const timedRun = async (i: number): Promise<void> => {
    const cpu0 = process.cpuUsage();
    samples[i]!.push(await runners[i]![1].decode());
    const cpu = process.cpuUsage(cpu0);
    cpuSamples[i]!.push(o.decodeTokens / ((cpu.user + cpu.system) / 1e6));
  };
  try {
    for (const [, r] of runners) await r.decode(); // warm-up
    for (let round = 0; round < o.repeats; round++) {
      const order = runners.map((_, i) => i);
      if (round % 2 === 1) order.reverse();
      for (const i of order) await timedRun(i);
    }
  } finally {
    for (const [, r] of runners) await r.close();
  }
  const tokensPerSec = Object.fromEntries(runners.map(([label], i) => [label, median(samples[i]!)]));
  const tokensPerCpuSec = Object.fromEntries(runners.map(([label], i) => [label, median(cpuSamples[i]!)]));
  return {
    tokensPerSec,
    tokensPerCpuSec,
    ratio: o.llama ? tokensPerSec[OURS_INT]! / tokensPerSec[LLAMA_CPP]! : null,
    cpuRatio: o.llama ? tokensPerCpuSec[OURS_INT]! / tokensPerCpuSec[LLAMA_CPP]! : null,
    memory,
    gguf,
  };
}
