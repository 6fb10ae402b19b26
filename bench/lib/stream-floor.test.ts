/**
 * The floor reads what a decode token streams: the matrices of `decodeMatrices` are the model's q8_0
 * matrices (their packed bytes are `matrixBytes` less the norms and per-matrix alignment), and one small
 * measurement returns every variant's figure over exactly those bytes.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadModelConfig } from '../../src/model/index.ts';
import { matrixBytes } from '../../src/model/kernels/index.ts';
import { q8x4Bytes } from '../../src/model/kernels/q8x4-pack.ts';
import { defaultModelDir } from '../../src/util/paths.ts';
import { decodeMatrices, formatStreamFloor, measureStreamFloor } from './stream-floor.ts';

const config = loadModelConfig(defaultModelDir);

describe('stream floor', () => {
  it('covers every matrix of a decode step, in model order, once', () => {
    const ms = decodeMatrices(config);
    assert.equal(ms.length, 7 * config.numLayers + 1);
    assert.deepEqual(ms.at(-1), { outDim: config.vocabSize, inDim: config.hiddenSize }, 'the LM head last');
    const packed = ms.reduce((sum, m) => sum + q8x4Bytes(m.outDim, m.inDim), 0);
    const norms = (2 * config.numLayers + 1) * (config.hiddenSize * 4 + 16);
    assert.equal(packed, matrixBytes(config, 'q8_0') - norms - 16 * ms.length);
  });

  it('measures the floor, the tile and their ratios over one token of weights', () => {
    const floor = measureStreamFloor(config, 1);
    const bytes = decodeMatrices(config).reduce((sum, m) => sum + q8x4Bytes(m.outDim, m.inDim), 0);
    assert.equal(floor.token.bytes, bytes);
    const labels = ['stream v128', 'stream load8x8', 'stream load8x8 + dot', 'tile (matmul_q8_int)'];
    for (const fig of [floor.token, floor.cached]) {
      assert.deepEqual(Object.keys(fig.gbs), labels);
      for (const g of Object.values(fig.gbs))
        assert.ok(g.best > 0 && Number.isFinite(g.best) && g.median <= g.best);
    }
    const text = formatStreamFloor(floor, { bytes, tokensPerSec: 100 });
    assert.match(text, /tile ÷ floor \(DRAM, best\): \d+\.\d\d/);
    assert.match(text, new RegExp(`at 100.0 tok/s that is ${((bytes * 100) / 1e9).toFixed(1)} GB/s`));
  });
});
