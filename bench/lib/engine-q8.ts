/**
 * The q8_0 figure of `npm run bench:engine`: single-stream decode with q8_0 weights, ours
 * (`--weight-dtype q8_0`, quantized at load) against llama.cpp on a q8_0 GGUF of the same checkpoint
 * (`dhw model convert --dtype q8_0`), same prompt, token count and threads, runs interleaved (ABBA...).
 *
 * Both sides quantize the same f32 weights with the same rule (llama.cpp's Q8_0: one scale per 32 weights),
 * so only the kernels differ. Decode is timed from the first generated token, as in the f32 phases.
 */
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import {
  argmax,
  convertToGguf,
  LlamaModel,
  loadModelConfig,
  SequenceSession,
} from '../../src/model/index.ts';
import { median } from '../../src/util/stats.ts';
import { openLlamaCppRunner, type PhaseRunner } from '../llama-cpp/llama-cpp-bench.ts';
import type { Llama } from '../llama-cpp/node-llama-cpp.ts';
import { syntheticPrompt } from './prompts.ts';

/** One timed single-stream run on `model`: tokens/s after the first token of `decodeTokens`. */
function timeOurDecode(model: LlamaModel, prompt: number[], decodeTokens: number): number {
  const session = new SequenceSession(model, { maxTokens: prompt.length + decodeTokens });
  let token = argmax(session.feed(prompt));
  const t0 = performance.now(); // first token out: from here on, one token per step
  for (let i = 1; i < decodeTokens; i++) token = argmax(session.feed([token]));
  return ((decodeTokens - 1) / (performance.now() - t0)) * 1000;
}

/** The same options (and result fields) as the q8 work's bench/lib/engine-q8.ts, so either file serves bench/engine.ts. */
export interface Q8BenchOptions {
  /** Checkpoint folder (safetensors); its q8_0 GGUF is written in `cacheDir` once. */
  dir: string;
  cacheDir: string;
  threads: number;
  decodeTokens: number;
  repeats: number;
  /** llama.cpp, or null to measure ours only. */
  llama: Llama | null;
}

export interface Q8BenchResult {
  /** Median single-stream tokens/s per engine label (wall clock, first token excluded). */
  tokensPerSec: Record<string, number>;
  /** ours ÷ llama.cpp (q8_0 both), or null without llama.cpp. */
  ratio: number | null;
}

export const OURS = 'ours q8_0';
export const LLAMA_CPP = 'llama.cpp (q8_0 GGUF)';

/** The q8_0 GGUF export of `dir` in `cacheDir`, rewritten when the checkpoint is newer. */
export async function q8Gguf(dir: string, cacheDir: string): Promise<string> {
  const gguf = join(cacheDir, `${dir.split('/').pop()}-q8_0.gguf`);
  const source = join(dir, 'config.json');
  if (!existsSync(gguf) || statSync(gguf).mtimeMs < statSync(source).mtimeMs)
    await convertToGguf(dir, { out: gguf, dtype: 'q8_0' });
  return gguf;
}

/**
 * Median single-stream tokens/s of ours and llama.cpp with q8_0 weights (8-token prompt): one warm-up
 * each, then `repeats` runs alternating between the engines (order swapped every round).
 */
export async function measureQ8SingleStream(o: Q8BenchOptions): Promise<Q8BenchResult> {
  const prompt = syntheticPrompt(8, 2, loadModelConfig(o.dir).vocabSize);
  const model = await LlamaModel.load(o.dir, { threads: o.threads, weightDtype: 'q8_0' });
  const runs: [string, () => Promise<number>][] = [
    [OURS, async () => timeOurDecode(model, prompt, o.decodeTokens)],
  ];
  let theirs: PhaseRunner | null = null;
  try {
    if (o.llama) {
      const workload = {
        prefillPrompt: prompt,
        decodePrompt: prompt,
        decodeTokens: o.decodeTokens,
        batchPrompts: [prompt],
        threads: o.threads,
      };
      const runner = await openLlamaCppRunner(o.llama, await q8Gguf(o.dir, o.cacheDir), workload);
      theirs = runner;
      runs.push([LLAMA_CPP, () => runner.decode()]);
    }
    const samples = runs.map((): number[] => []);
    for (const [, run] of runs) await run(); // warm-up
    for (let round = 0; round < o.repeats; round++) {
      const order = runs.map((_, i) => i);
      if (round % 2 === 1) order.reverse();
      for (const i of order) samples[i]!.push(await runs[i]![1]());
    }
    const tokensPerSec = Object.fromEntries(runs.map(([label], i) => [label, median(samples[i]!)]));
    return { tokensPerSec, ratio: o.llama ? tokensPerSec[OURS]! / tokensPerSec[LLAMA_CPP]! : null };
  } finally {
    await theirs?.close();
    await model.close();
  }
}
