/**
 * Synthetic prompts for benchmarks: deterministic token-id sequences, so runs are repeatable without a
 * tokenizer or a text corpus. Like a load generator's random payloads: the content does not matter to a
 * forward pass's cost, only the length — and, for the prefix cache, which prompts share a prefix.
 */
import { createRng } from '../../src/util/prng.ts';
import { DEFAULT_SAMPLING, type EngineRequest } from '../../src/protocols/engine.ts';
import { asRequestId } from '../../src/protocols/ids.ts';

/**
 * `length` token ids drawn uniformly from [firstId, vocabSize), reproducible from `seed`. Distinct seeds give
 * prompts that differ in their first token with high probability, so they share no prefix-cache block.
 * `firstId` (default 3) skips the usual special ids (pad/bos/eos) so the prompt looks like plain text.
 */
export function syntheticPrompt(length: number, seed: number, vocabSize: number, firstId = 3): number[] {
  const rng = createRng(seed);
  const span = vocabSize - firstId;
  return Array.from({ length }, () => firstId + Math.min(span - 1, Math.floor(rng.nextFloat() * span)));
}

/** A benchmark request: greedy, EOS ignored, exactly `maxTokens` output tokens. */
export function benchRequest(id: string, prompt: number[], maxTokens: number): EngineRequest {
  return {
    requestId: asRequestId(id),
    promptTokenIds: prompt,
    sampling: { ...DEFAULT_SAMPLING, temperature: 0 },
    stopping: { maxTokens, stopTokenIds: [], ignoreEos: true },
  };
}
