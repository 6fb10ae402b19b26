/**
 * The llama.cpp side of `npm run bench:engine`: the same three measurements as ours (prefill, single-stream
 * decode, batched-16 decode) on the same GGUF weights, prompts and token counts, through node-llama-cpp.
 *
 * Like benchmarking a reference server with the same load generator: only the engine under test changes.
 * Decode is timed from the moment every sequence has its first token (prefill excluded), as ours is.
 * Each call of a runner's method is one timed run, so the caller can interleave engines run by run (on a
 * shared machine both then see the same background load).
 */
import { performance } from 'node:perf_hooks';
import type { Llama, LlamaContextSequence, LlamaModel, Token } from './node-llama-cpp.ts';

/** Argmax, and keep going past end-of-generation tokens (ours never stops early in these runs either). */
const GREEDY = { temperature: 0, yieldEogToken: true };

export interface PhaseWorkload {
  /** Prompt for the prefill measurement (P tokens). */
  prefillPrompt: number[];
  /** Prompt and new tokens for single-stream decode. */
  decodePrompt: number[];
  decodeTokens: number;
  /** One prompt per concurrent sequence for batched decode, each generating `decodeTokens`. */
  batchPrompts: number[][];
  threads: number;
}

/** One engine's three measurements; each call is one timed run (tokens/s). Shared with ours in bench/engine.ts. */
export interface PhaseRunner {
  prefill(): Promise<number>;
  decode(): Promise<number>;
  batched(): Promise<number>;
  close(): Promise<void>;
}

/** llama.cpp on `ggufFile`: one context for the single sequence, one with a sequence per batched prompt. */
export async function openLlamaCppRunner(
  llama: Llama,
  ggufFile: string,
  w: PhaseWorkload,
): Promise<PhaseRunner> {
  const model = await llama.loadModel({ modelPath: ggufFile });
  const longest = Math.max(w.prefillPrompt.length, w.decodePrompt.length + w.decodeTokens);
  const single = await createContext(model, w, 1, longest);
  const seq = single.getSequence();
  const batchLongest = Math.max(...w.batchPrompts.map((p) => p.length)) + w.decodeTokens;
  const batchedContext = await createContext(model, w, w.batchPrompts.length, batchLongest);
  const seqs = w.batchPrompts.map(() => batchedContext.getSequence());
  return {
    prefill: () => runPrefill(seq, w.prefillPrompt),
    decode: () => runDecode(seq, w.decodePrompt, w.decodeTokens),
    batched: () => runBatched(seqs, w.batchPrompts, w.decodeTokens),
    close: async () => {
      await single.dispose();
      await batchedContext.dispose();
      await model.dispose();
    },
  };
}

/** Greedy continuation of `prompt` by llama.cpp (for the parity check). */
export async function llamaCppGreedy(
  llama: Llama,
  ggufFile: string,
  prompt: number[],
  n: number,
): Promise<number[]> {
  const model = await llama.loadModel({ modelPath: ggufFile });
  try {
    const context = await model.createContext({
      contextSize: prompt.length + n + 8,
      sequences: 1,
      threads: 2,
    });
    const out: number[] = [];
    for await (const token of context.getSequence().evaluate(prompt as Token[], GREEDY)) {
      out.push(token);
      if (out.length >= n) break;
    }
    await context.dispose();
    return out;
  } finally {
    await model.dispose();
  }
}

function createContext(model: LlamaModel, w: PhaseWorkload, sequences: number, tokensPerSequence: number) {
  return model.createContext({
    // Each sequence gets contextSize / sequences cells; llama.cpp rounds up to a multiple of 256.
    contextSize: sequences * (tokensPerSequence + 16),
    batchSize: Math.max(w.prefillPrompt.length, 512),
    sequences,
    threads: w.threads,
  });
}

async function runPrefill(seq: LlamaContextSequence, prompt: number[]): Promise<number> {
  await seq.clearHistory();
  const t0 = performance.now();
  await seq.evaluateWithoutGeneratingNewTokens(prompt as Token[]);
  return (prompt.length / (performance.now() - t0)) * 1000;
}

async function runDecode(seq: LlamaContextSequence, prompt: number[], n: number): Promise<number> {
  await seq.clearHistory();
  const times = await generate(seq, prompt, n);
  return ((times.length - 1) / (times[times.length - 1]! - times[0]!)) * 1000;
}

/** All sequences at once; decode rate counted from when the last sequence got its first token. */
async function runBatched(seqs: LlamaContextSequence[], prompts: number[][], n: number): Promise<number> {
  for (const s of seqs) await s.clearHistory();
  const all = await Promise.all(seqs.map((s, i) => generate(s, prompts[i]!, n)));
  const start = Math.max(...all.map((t) => t[0]!));
  const end = Math.max(...all.map((t) => t[t.length - 1]!));
  const tokens = all.reduce((sum, t) => sum + t.filter((x) => x > start).length, 0);
  return (tokens / (end - start)) * 1000;
}

/** Arrival time of each of `n` greedy tokens. */
async function generate(seq: LlamaContextSequence, prompt: number[], n: number): Promise<number[]> {
  const times: number[] = [];
  for await (const _ of seq.evaluate(prompt as Token[], GREEDY)) {
    times.push(performance.now());
    if (times.length >= n) break;
  }
  return times;
}
