/**
 * `profileDecodeSteps` (the engine behind `npm run bench:q8-step`) on the bundled model: every product of the
 * step is attributed (each tile's weight bytes are the model's packed q8_0 bytes, its calls one per matrix
 * per layer), the row kernels and attention phases appear with their call counts, and the tiles never add
 * up to more than the probed step. Never asserts timings beyond "positive".
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LlamaModel } from '../src/model/index.ts';
import { defaultModelDir } from '../src/util/paths.ts';
import { profileDecodeSteps } from './lib/step-profile.ts';

test('profileDecodeSteps attributes every kernel call of a q8_0 decode step', async () => {
  const model = await LlamaModel.load(defaultModelDir, { threads: 1, weightDtype: 'q8_0' });
  try {
    const p = profileDecodeSteps(model, 8, 2, 2);
    const L = model.config.numLayers;
    const phase = (label: string) => {
      const found = p.phases.find((ph) => ph.label === label);
      assert.ok(found, `phase ${label}`);
      return found;
    };
    const layerBytes = (pick: (l: (typeof model.weights.layers)[number]) => number) =>
      model.weights.layers.reduce((sum, l) => sum + pick(l), 0);
    assert.equal(phase('qkv tile').calls, 3 * L);
    assert.equal(
      phase('qkv tile').bytes,
      layerBytes((l) => l.wq.q8x4!.byteLength + l.wk.q8x4!.byteLength + l.wv.q8x4!.byteLength),
    );
    assert.equal(phase('gate+up tile').calls, 2 * L);
    assert.equal(
      phase('down tile').bytes,
      layerBytes((l) => l.wDown.q8x4!.byteLength),
    );
    assert.equal(phase('lm_head tile').calls, 1);
    assert.equal(phase('lm_head tile').bytes, model.weights.lmHead.q8x4!.byteLength);
    assert.equal(phase('qkv quantize').calls, L, 'one activation quantization shared by q, k and v');
    assert.equal(phase('softmax_f32').calls, L * model.config.numKvHeads);
    assert.equal(phase('swiglu_f32_fast').calls, L, 'q8_0 takes the vectorized SwiGLU');
    for (const ph of p.phases.filter((x) => x.calls > 0)) assert.ok(ph.us > 0, `${ph.label} took time`);
    assert.ok(p.bareStepUs > 0 && p.stepUs > 0);
    const tiles = p.phases.filter((ph) => ph.label.endsWith(' tile')).reduce((s, ph) => s + ph.us, 0);
    assert.ok(tiles < p.stepUs, 'the tiles are part of the step');
  } finally {
    await model.close();
  }
});
