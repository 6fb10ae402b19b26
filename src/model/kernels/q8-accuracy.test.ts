/**
 * What `--weight-dtype q8_0` costs in accuracy on the bundled fortune-llama: logits stay within a small
 * absolute error of the f32 model, and greedy continuations of the golden samples mostly agree.
 * Measured (docs/engine-speed.md): max-abs error 0.08 with logits up to 19; 4 of 5 samples identical,
 * the fifth diverges after 30 of 38 tokens.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { defaultModelDir } from '../../util/paths.ts';
import { LlamaModel } from '../forward.ts';
import { greedyGenerate, SequenceSession } from '../sequence-session.ts';

interface Sample {
  prompt_ids: number[];
  greedy_ids: number[];
}
const samples = (
  JSON.parse(readFileSync(join(defaultModelDir, 'golden.json'), 'utf8')) as { samples: Sample[] }
).samples;

describe('q8_0 weights on fortune-llama', () => {
  let f32: LlamaModel;
  let q8: LlamaModel;
  before(async () => {
    f32 = await LlamaModel.load(defaultModelDir);
    q8 = await LlamaModel.load(defaultModelDir, { weightDtype: 'q8_0' });
  });
  after(() => Promise.all([f32.close(), q8.close()]));

  it('quantizes every matrix (all rows are whole blocks of 32)', () => {
    const layer = q8.weights.layers[0]!;
    for (const m of [
      layer.wq,
      layer.wk,
      layer.wv,
      layer.wo,
      layer.wGate,
      layer.wUp,
      layer.wDown,
      q8.weights.lmHead,
    ]) {
      assert.equal(m.dtype, 'q8_0');
    }
  });

  it('keeps logits within 0.25 of the f32 model', () => {
    for (const s of samples) {
      const n = s.prompt_ids.length;
      const a = new SequenceSession(f32, { maxTokens: n }).feed(s.prompt_ids, 'all');
      const b = new SequenceSession(q8, { maxTokens: n }).feed(s.prompt_ids, 'all');
      let maxAbs = 0;
      for (let i = 0; i < a.length; i++) maxAbs = Math.max(maxAbs, Math.abs(a[i]! - b[i]!));
      assert.ok(maxAbs < 0.25, `max-abs logit error ${maxAbs}`);
    }
  });

  it('agrees with the golden greedy continuations on at least their first 16 tokens', () => {
    let exact = 0;
    for (const s of samples) {
      const out = greedyGenerate(q8, s.prompt_ids, s.greedy_ids.length, {
        eosTokenIds: f32.config.eosTokenIds,
      });
      assert.deepEqual(out.slice(0, 16), s.greedy_ids.slice(0, 16));
      if (out.length === s.greedy_ids.length && out.every((t, i) => t === s.greedy_ids[i])) exact++;
    }
    assert.ok(exact >= samples.length - 1, `${exact} of ${samples.length} continuations identical`);
  });
});
