/**
 * What `--weight-dtype q8_0` costs in accuracy against the f32 model, with both kinds of activations
 * (`q8Activations`): 'f32' (weights widened to f32) and 'q8_0' (activations quantized per block of 32,
 * integer dot products, as llama.cpp's q8_0 × q8_0). Measured (docs/engine-speed.md, "q8_0 integer decode"):
 *
 *   model                     activations  max-abs error / max |logit|  greedy: identical, agreed tokens
 *   fortune-llama (bundled)   f32          0.082 / 19.2                 4 of 5, 151 of 159
 *   fortune-llama (bundled)   q8_0         0.132 / 19.2                 4 of 5, 123 of 159
 *   fixtures (random weights) q8_0         ≤ 0.227 / 4.8 (4.7%)         (random weights: near-ties diverge)
 *
 * The bounds below leave about 2× headroom over those numbers.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { defaultModelDir, fixtureDirs } from '../util/paths.ts';
import { LlamaModel } from './forward.ts';
import { goldenCases, measureQ8Accuracy, type Q8Accuracy } from './testing/q8-accuracy-kit.ts';

/** The figures docs/engine-speed.md quotes, printed with the test (node --test shows diagnostics). */
const describeAccuracy = (r: Q8Accuracy): string =>
  `max-abs logit error ${r.maxAbsError.toFixed(3)} of max |logit| ${r.maxAbsLogit.toFixed(1)}; ` +
  `greedy: ${r.identical} of ${r.cases} identical, ${r.agreedTokens} of ${r.totalTokens} tokens agreed`;

describe('q8_0 weights on fortune-llama', () => {
  it('quantizes every matrix (all rows are whole blocks of 32)', async () => {
    const q8 = await LlamaModel.load(defaultModelDir, { weightDtype: 'q8_0', threads: 1 });
    try {
      const layer = q8.weights.layers[0]!;
      // biome-ignore format: one list
      for (const m of [layer.wq, layer.wk, layer.wv, layer.wo, layer.wGate, layer.wUp, layer.wDown, q8.weights.lmHead])
        assert.equal(m.dtype, 'q8_0');
    } finally {
      await q8.close();
    }
  });

  for (const activations of ['f32', 'q8_0'] as const) {
    it(`${activations} activations: logits within 0.25 of f32, greedy continuations identical but for one`, async (t) => {
      const cases = goldenCases(defaultModelDir);
      const r = await measureQ8Accuracy(defaultModelDir, cases, activations);
      t.diagnostic(describeAccuracy(r));
      assert.ok(r.maxAbsError < 0.25, `max-abs logit error ${r.maxAbsError}`);
      assert.ok(r.identical >= cases.length - 1, `${r.identical} of ${cases.length} continuations identical`);
      assert.ok(r.agreedTokens >= 0.6 * r.totalTokens, `${r.agreedTokens} of ${r.totalTokens} tokens agreed`);
    });
  }
});

describe('q8_0 weights on the fixtures (random weights)', () => {
  for (const f of fixtureDirs((dir) => existsSync(join(dir, 'config.json')))) {
    it(`${f.label}: q8_0 activations keep every logit within 10% of the largest`, async (t) => {
      const r = await measureQ8Accuracy(f.dir, goldenCases(f.dir), 'q8_0');
      t.diagnostic(describeAccuracy(r));
      assert.ok(r.cases > 0);
      assert.ok(r.maxAbsError < 0.1 * r.maxAbsLogit, `max-abs error ${r.maxAbsError} of ${r.maxAbsLogit}`);
    });
  }
});
