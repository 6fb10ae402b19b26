import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DEFAULT_SAMPLING, type SamplingParams } from '../protocols/engine.ts';
import { Xoshiro128 } from '../util/prng.ts';
import {
  applyPenalties,
  argmax,
  sampleToken,
  topKIndices,
  topPBySortingEveryId,
  topPNucleus,
} from './sampler.ts';

const LOGITS = Float32Array.from([0.5, 2.0, -1.0, 1.0, 3.0, 0.0, -2.0, 2.5]);

function params(over: Partial<SamplingParams>): SamplingParams {
  return { ...DEFAULT_SAMPLING, ...over };
}

function draw(logits: Float32Array, p: SamplingParams, seed: number, n: number): number[] {
  const rng = new Xoshiro128(seed);
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    out.push(sampleToken({ logits, promptTokenIds: [], outputTokenIds: [], params: p, rng }).tokenId);
  }
  return out;
}

function softmax(values: ArrayLike<number>, temperature = 1): number[] {
  const xs = Array.from(values, (v) => v / temperature);
  const max = Math.max(...xs);
  const e = xs.map((x) => Math.exp(x - max));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((x) => x / s);
}

describe('sampler', () => {
  it('temperature 0 is argmax', () => {
    const r = sampleToken({
      logits: LOGITS,
      promptTokenIds: [],
      outputTokenIds: [],
      params: params({ temperature: 0 }),
      rng: new Xoshiro128(1),
    });
    assert.equal(r.tokenId, 4);
    assert.equal(argmax(LOGITS), 4);
  });

  it('plain greedy (no copy) picks what the scored path picks, the first of tied maxima included', () => {
    const rng = new Xoshiro128(3);
    for (let trial = 0; trial < 20; trial++) {
      // coarse values over a wide vocabulary: many ties for the maximum
      const logits = Float32Array.from({ length: 49152 }, () => Math.floor(rng.nextFloat() * 50) / 7);
      const plain = sampleToken({
        logits,
        promptTokenIds: [],
        outputTokenIds: [],
        params: params({ temperature: 0 }),
        rng,
      });
      // a zero bias changes no score but takes the f64 path
      const scored = sampleToken({
        logits,
        promptTokenIds: [],
        outputTokenIds: [],
        params: params({ temperature: 0, logitBias: [[0, 0]] }),
        rng,
      });
      assert.equal(plain.tokenId, scored.tokenId);
      assert.equal(
        plain.tokenId,
        logits.indexOf(logits.reduce((m, v) => Math.max(m, v), Number.NEGATIVE_INFINITY)),
      );
    }
  });

  it('top-k = 1 is greedy at any temperature', () => {
    assert.deepEqual(new Set(draw(LOGITS, params({ temperature: 5, topK: 1 }), 7, 200)), new Set([4]));
  });

  it('same seed gives the same tokens, another seed other tokens', () => {
    const p = params({ temperature: 1.5 });
    assert.deepEqual(draw(LOGITS, p, 123, 100), draw(LOGITS, p, 123, 100));
    assert.notDeepEqual(draw(LOGITS, p, 123, 100), draw(LOGITS, p, 124, 100));
  });

  it('temperature sampling matches softmax(logits / T) (chi-square)', () => {
    for (const temperature of [0.7, 1, 2]) {
      const n = 20_000;
      const counts = new Array(LOGITS.length).fill(0);
      for (const t of draw(LOGITS, params({ temperature }), 99, n)) counts[t]++;
      const expected = softmax(LOGITS, temperature).map((p) => p * n);
      const chi2 = counts.reduce((s, c, i) => s + (c - expected[i]!) ** 2 / expected[i]!, 0);
      // 7 degrees of freedom: P(chi2 > 29) ≈ 1e-4.
      assert.ok(chi2 < 29, `T=${temperature} chi2=${chi2.toFixed(1)} counts=${counts}`);
    }
  });

  it('top-k keeps only the k best tokens', () => {
    const seen = new Set(draw(LOGITS, params({ temperature: 3, topK: 3 }), 5, 2000));
    assert.deepEqual([...seen].sort(), [1, 4, 7]);
  });

  it('top-p keeps the smallest set reaching p', () => {
    const probs = softmax(LOGITS); // sorted: 4 (.37), 7 (.22), 1 (.14), 3 (.08), ...
    const p = probs[4]! + probs[7]! + 0.01; // needs a third token
    const seen = new Set(draw(LOGITS, params({ topP: p }), 5, 3000));
    assert.deepEqual([...seen].sort(), [1, 4, 7]);
    assert.deepEqual([...new Set(draw(LOGITS, params({ topP: 0.01 }), 5, 500))], [4]);
  });

  it('min-p drops tokens below min_p × the top probability', () => {
    // exp(-1) ≈ 0.37 of the top: with min_p 0.3 tokens within 1.2 logits of the best survive (4, 7, 1).
    const seen = new Set(draw(LOGITS, params({ minP: 0.3 }), 11, 3000));
    assert.deepEqual([...seen].sort(), [1, 4, 7]);
  });

  it('repetition penalty divides positive and multiplies negative logits of seen tokens', () => {
    const s = applyPenalties(Float64Array.from([2, -1, 3, 1]), [0], [1], {
      repetitionPenalty: 2,
      presencePenalty: 0,
      frequencyPenalty: 0,
    });
    assert.deepEqual([...s], [1, -2, 3, 1]);
    // And it changes the greedy choice: token 4 (3.0) was seen, 7 (2.5) wins.
    const r = sampleToken({
      logits: LOGITS,
      promptTokenIds: [4],
      outputTokenIds: [],
      params: params({ temperature: 0, repetitionPenalty: 1.5 }),
      rng: new Xoshiro128(1),
    });
    assert.equal(r.tokenId, 7);
  });

  it('presence subtracts once, frequency per occurrence, output tokens only', () => {
    const s = applyPenalties(Float64Array.from([1, 1, 1, 1]), [3, 3], [0, 1, 1, 1], {
      repetitionPenalty: 1,
      presencePenalty: 0.5,
      frequencyPenalty: 0.25,
    });
    assert.deepEqual([...s], [1 - 0.5 - 0.25, 1 - 0.5 - 0.75, 1, 1]);
  });

  it('logprobs are the raw log-softmax and sum to one; top-n sorted', () => {
    const r = sampleToken({
      logits: LOGITS,
      promptTokenIds: [4],
      outputTokenIds: [],
      // Penalties and temperature change the choice, never the reported (raw) logprobs.
      params: params({ temperature: 0, repetitionPenalty: 3 }),
      rng: new Xoshiro128(1),
      numLogprobs: LOGITS.length,
    });
    const probs = softmax(LOGITS);
    assert.ok(Math.abs(r.logprob! - Math.log(probs[r.tokenId]!)) < 1e-9);
    const top = r.topLogprobs!;
    assert.equal(top.length, LOGITS.length);
    assert.deepEqual(
      top.slice(0, 3).map((t) => t.tokenId),
      [4, 7, 1],
    );
    const total = top.reduce((s, t) => s + Math.exp(t.logprob), 0);
    assert.ok(Math.abs(total - 1) < 1e-9, `sum ${total}`);
  });

  it('does not modify the logits row', () => {
    const copy = Float32Array.from(LOGITS);
    draw(LOGITS, params({ temperature: 0.5, topP: 0.9, repetitionPenalty: 2 }), 3, 10);
    assert.deepEqual(LOGITS, copy);
  });

  it('topKIndices matches a full sort, ties to the lower index', () => {
    const rng = new Xoshiro128(8);
    const values = Array.from({ length: 500 }, () => Math.floor(rng.nextFloat() * 50));
    const full = values
      .map((v, i) => [v, i] as const)
      .sort((a, b) => b[0] - a[0] || a[1] - b[1])
      .map(([, i]) => i);
    for (const k of [1, 7, 50, 500, 900]) assert.deepEqual(topKIndices(values, k), full.slice(0, k));
  });

  it('logit_bias moves tokens: -100 bans the argmax, +100 forces a token, sampled or greedy', () => {
    const banned = draw(LOGITS, params({ temperature: 0, logitBias: [[4, -100]] }), 1, 1);
    assert.deepEqual(banned, [7], 'the next best token once 4 is banned');
    const forced = draw(LOGITS, params({ temperature: 1, logitBias: [[6, 100]] }), 3, 50);
    assert.ok(
      forced.every((t) => t === 6),
      'a +100 bias on the least likely token always wins',
    );
    const none = draw(
      LOGITS,
      params({
        temperature: 1,
        logitBias: [
          [4, -100],
          [7, -100],
          [1, -100],
        ],
      }),
      5,
      200,
    );
    assert.ok(!none.some((t) => t === 4 || t === 7 || t === 1), 'banned tokens are never drawn');
  });

  it('logprobs stay those of the raw model output, bias or not', () => {
    const r = sampleToken({
      logits: LOGITS,
      promptTokenIds: [],
      outputTokenIds: [],
      params: params({ temperature: 0, logitBias: [[6, 100]] }),
      rng: new Xoshiro128(1),
      numLogprobs: 1,
    });
    assert.equal(r.tokenId, 6);
    assert.ok((r.logprob ?? 0) < -4, 'token 6 is unlikely under the model');
    assert.equal(r.topLogprobs?.[0]?.tokenId, 4);
  });
});

describe('top-p without sorting every id', () => {
  it('picks the same ids with the same weights, bit for bit, as sorting the whole vocabulary', () => {
    const rng = new Xoshiro128(7);
    let cases = 0;
    for (const vocab of [1, 2, 17, 1000, 49152]) {
      for (const shape of ['spread', 'peaked', 'ties', 'masked'] as const) {
        const scores = new Float64Array(vocab);
        for (let i = 0; i < vocab; i++) {
          const u = rng.nextFloat();
          if (shape === 'spread') scores[i] = (u - 0.5) * 8;
          else if (shape === 'peaked') scores[i] = i % 97 === 3 ? 12 + u : (u - 0.5) * 4;
          else if (shape === 'ties')
            scores[i] = Math.round(u * 6) / 2; // many equal scores
          else scores[i] = u < 0.9 ? Number.NEGATIVE_INFINITY : u * 3; // a grammar mask
        }
        if (shape === 'masked') scores[vocab - 1] = 1; // at least one allowed token
        for (const topP of [0.01, 0.5, 0.9, 0.95, 0.999999]) {
          const fast = topPNucleus(scores, topP);
          const reference = topPBySortingEveryId(scores, topP);
          assert.deepEqual(fast.chosen, reference.chosen, `${shape} vocab ${vocab} top-p ${topP}`);
          assert.deepEqual(
            [...fast.weights],
            [...reference.weights],
            `${shape} vocab ${vocab} top-p ${topP}`,
          );
          cases++;
        }
      }
    }
    assert.equal(cases, 100);
  });

  it('falls back to the reference answer when scores hold NaN', () => {
    const scores = Float64Array.from([1, Number.NaN, 2, 0.5]);
    const fast = topPNucleus(scores, 0.9);
    const reference = topPBySortingEveryId(scores, 0.9);
    assert.deepEqual(fast.chosen, reference.chosen);
    assert.deepEqual([...fast.weights], [...reference.weights]);
  });
});
