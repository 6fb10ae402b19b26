/**
 * `npm run bench:q8-step -- --cpu-split`: loads ours (q8_0, integer activations) and llama.cpp on the q8_0
 * GGUF of the same checkpoint and prints lib/cpu-split.ts's per-engine lines. Ours alone when
 * bench/llama-cpp is not installed.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { LlamaModel, loadModelConfig } from '../../src/model/index.ts';
import { openLlamaCppRunner } from '../llama-cpp/llama-cpp-bench.ts';
import { INSTALL_HINT, loadLlamaCpp } from '../llama-cpp/node-llama-cpp.ts';
import { describeMachine } from './machine.ts';
import {
  formatCpuSplit,
  llamaSplitRunner,
  measureCpuSplit,
  oursSplitRunner,
  type SplitRunner,
} from './cpu-split.ts';
import { syntheticPrompt } from './prompts.ts';

export async function runCpuSplit(
  dir: string,
  threads: number,
  tokens: number,
  rounds: number,
): Promise<void> {
  if (!existsSync(join(dir, 'config.json'))) {
    console.error(
      '--cpu-split needs the SmolLM2-135M bench checkpoint: run npm run bench:engine once to write it',
    );
    process.exit(2);
  }
  const prompt = syntheticPrompt(8, 2, loadModelConfig(dir).vocabSize); // bench:engine's q8 prompt
  const model = await LlamaModel.load(dir, { threads, weightDtype: 'q8_0' });
  const runners: SplitRunner[] = [oursSplitRunner('ours q8_0', model, prompt, tokens)];
  const gguf = `${dir}-q8_0.gguf`;
  const llama = existsSync(gguf) ? await loadLlamaCpp() : null;
  const closers: (() => Promise<void>)[] = [() => model.close()];
  if (llama?.ok) {
    const workload = {
      prefillPrompt: prompt,
      decodePrompt: prompt,
      decodeTokens: tokens,
      batchPrompts: [prompt],
      threads,
    };
    const r = await openLlamaCppRunner(llama.llama, gguf, workload);
    runners.push(llamaSplitRunner('llama.cpp q8_0', r));
    closers.push(() => r.close());
  } else {
    console.log(
      `llama.cpp: ${llama ? llama.reason : `no ${gguf} (run npm run bench:engine once)`}; ${INSTALL_HINT}`,
    );
  }
  console.log(`load average at start ${describeMachine().loadAvg1m}, ${threads} thread(s), ${rounds} rounds`);
  try {
    console.log(formatCpuSplit(await measureCpuSplit(runners, rounds), tokens));
  } finally {
    for (const close of closers) await close();
  }
  console.log(`load average now ${describeMachine().loadAvg1m}`);
}
