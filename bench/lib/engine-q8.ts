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
import { argmax, convertToGguf, LlamaModel, SequenceSession } from '../../src/model/index.ts';
import { median } from '../../src/util/stats.ts';
import { openLlamaCppRunner, type PhaseWorkload } from '../llama-cpp/llama-cpp-bench.ts';
import type { Llama } from '../llama-cpp/node-llama-cpp.ts';

/** One timed single-stream run on `model`: tokens/s after the first token of `w.decodeTokens`. */
export function timeOurDecode(model: LlamaModel, w: PhaseWorkload): number {
  const session = new SequenceSession(model, { maxTokens: w.decodePrompt.length + w.decodeTokens });
  let token = argmax(session.feed(w.decodePrompt));
  const t0 = performance.now(); // first token out: from here on, one token per step
  for (let i = 1; i < w.decodeTokens; i++) token = argmax(session.feed([token]));
  return ((w.decodeTokens - 1) / (performance.now() - t0)) * 1000;
}

export interface Q8SingleStream {
  /** Median tokens/s, ours and llama.cpp's. */
  ours: number;
  llamaCpp: number;
  /** ours ÷ llama.cpp */
  ratio: number;
}

/** The q8_0 GGUF export of `dir`, cached beside the f32 one (rewritten when the checkpoint is newer). */
async function q8Gguf(dir: string, cacheDir: string): Promise<string> {
  const gguf = join(cacheDir, `${dir.split('/').pop()}-q8_0.gguf`);
  const source = join(dir, 'config.json');
  if (!existsSync(gguf) || statSync(gguf).mtimeMs < statSync(source).mtimeMs)
    await convertToGguf(dir, { out: gguf, dtype: 'q8_0' });
  return gguf;
}

/**
 * Median single-stream tokens/s of ours and llama.cpp with q8_0 weights: one warm-up each, then `repeats`
 * runs alternating between the engines (order swapped every round).
 */
export async function measureQ8SingleStream(
  llama: Llama,
  dir: string,
  cacheDir: string,
  w: PhaseWorkload,
  repeats: number,
  options: { relaxedSimd?: boolean } = {},
): Promise<Q8SingleStream> {
  const gguf = await q8Gguf(dir, cacheDir);
  const model = await LlamaModel.load(dir, {
    threads: w.threads,
    weightDtype: 'q8_0',
    relaxedSimd: options.relaxedSimd,
  });
  const theirs = await openLlamaCppRunner(llama, gguf, { ...w, batchPrompts: [w.decodePrompt] });
  try {
    const runs = [async () => timeOurDecode(model, w), () => theirs.decode()];
    const samples: number[][] = [[], []];
    for (const run of runs) await run();
    for (let round = 0; round < repeats; round++) {
      const order = round % 2 === 0 ? [0, 1] : [1, 0];
      for (const i of order) samples[i]!.push(await runs[i]!());
    }
    const ours = median(samples[0]!);
    const llamaCpp = median(samples[1]!);
    return { ours, llamaCpp, ratio: ours / llamaCpp };
  } finally {
    await theirs.close();
    await model.close();
  }
}
