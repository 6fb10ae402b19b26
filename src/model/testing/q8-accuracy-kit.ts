/**
 * Measures what q8_0 costs in accuracy against the f32 model on the same checkpoint: the largest absolute
 * logit error over every position of each prompt, and how far greedy decoding follows the f32 model's.
 * Used by the accuracy test (which asserts bounds) and by `npm run bench:q8` (which prints the numbers).
 *
 * Systems analogy: a lossy codec's quality report (PSNR, and whether the decoded frames still match).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { LlamaModel, type ModelOptions } from '../forward.ts';
import { greedyGenerate, SequenceSession } from '../sequence-session.ts';

/** A prompt and how many tokens to decode greedily after it. */
export interface AccuracyCase {
  promptIds: number[];
  decodeTokens: number;
}

export interface Q8Accuracy {
  /** max |logit_q8 - logit_f32| over every position of every prompt */
  maxAbsError: number;
  /** max |logit_f32| over the same positions, for scale */
  maxAbsLogit: number;
  /** greedy tokens equal to the f32 model's before the first divergence, summed over the cases */
  agreedTokens: number;
  totalTokens: number;
  /** cases whose whole greedy continuation equals the f32 model's */
  identical: number;
  cases: number;
}

/** The prompts of a checkpoint's golden.json: fixtures (`cases`) or the bundled model (`samples`). */
export function goldenCases(dir: string): AccuracyCase[] {
  const golden = JSON.parse(readFileSync(join(dir, 'golden.json'), 'utf8')) as {
    cases?: { input_ids: number[]; greedy_24: number[] }[];
    samples?: { prompt_ids: number[]; greedy_ids: number[] }[];
  };
  if (golden.cases)
    return golden.cases.map((c) => ({ promptIds: c.input_ids, decodeTokens: c.greedy_24.length }));
  return (golden.samples ?? []).map((s) => ({ promptIds: s.prompt_ids, decodeTokens: s.greedy_ids.length }));
}

/** Loads `dir` as f32 and as q8_0 (activations as asked) and compares them on `cases`. */
export async function measureQ8Accuracy(
  dir: string,
  cases: AccuracyCase[],
  q8Activations: NonNullable<ModelOptions['q8Activations']>,
): Promise<Q8Accuracy> {
  const f32 = await LlamaModel.load(dir, { threads: 1 });
  const q8 = await LlamaModel.load(dir, { threads: 1, weightDtype: 'q8_0', q8Activations });
  const result: Q8Accuracy = {
    maxAbsError: 0,
    maxAbsLogit: 0,
    agreedTokens: 0,
    totalTokens: 0,
    identical: 0,
    cases: 0,
  };
  try {
    for (const c of cases) {
      const n = c.promptIds.length;
      const a = new SequenceSession(f32, { maxTokens: n }).feed(c.promptIds, 'all');
      const b = new SequenceSession(q8, { maxTokens: n }).feed(c.promptIds, 'all');
      for (let i = 0; i < a.length; i++) {
        result.maxAbsError = Math.max(result.maxAbsError, Math.abs(a[i]! - b[i]!));
        result.maxAbsLogit = Math.max(result.maxAbsLogit, Math.abs(a[i]!));
      }
      // no EOS: both decode the full length, so the comparison covers every token
      const want = greedyGenerate(f32, c.promptIds, c.decodeTokens, { eosTokenIds: [] });
      const got = greedyGenerate(q8, c.promptIds, c.decodeTokens, { eosTokenIds: [] });
      const firstDiff = want.findIndex((t, i) => got[i] !== t);
      result.agreedTokens += firstDiff === -1 ? want.length : firstDiff;
      result.totalTokens += want.length;
      if (firstDiff === -1) result.identical++;
      result.cases++;
    }
  } finally {
    await Promise.all([f32.close(), q8.close()]);
  }
  return result;
}
