import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TransferProtocolError } from './errors.ts';
import { blockBytes, checkLayoutsMatch, describeLayout } from './layout.ts';
import { blockViews } from './region.ts';
import { allocateRegion, SMOLLM2_135M_LAYOUT, TINY_LAYOUT } from './test-regions.ts';
import { decodeRequest, decodeResponse, encodeFrame, headerLength } from './wire.ts';

describe('KV layout', () => {
  it('SmolLM2-135M: 2 · 30 layers · 3 heads · 64 dims · 16 tokens · 4 bytes = 720 KiB per block', () => {
    assert.equal(blockBytes(SMOLLM2_135M_LAYOUT), 2 * 30 * 3 * 64 * 16 * 4);
    assert.equal(
      describeLayout(SMOLLM2_135M_LAYOUT),
      '30 layers × K/V × [block 16 tokens][3 KV heads][head dim 64] f32 (720 KiB per block)',
    );
  });

  it('a different layer count is allowed (layer ranges); a different block shape is not', () => {
    checkLayoutsMatch(TINY_LAYOUT, { ...TINY_LAYOUT, numLayers: 7 }, { ours: 'a', theirs: 'b' });
    assert.throws(
      () =>
        checkLayoutsMatch(
          TINY_LAYOUT,
          { ...TINY_LAYOUT, blockSize: 16, numKvHeads: 1 },
          { ours: 'a', theirs: 'b' },
        ),
      /KV layouts differ \(blockSize 4 vs 16, numKvHeads 2 vs 1\): a is 3 layers .*; b is 3 layers/,
    );
  });

  it('consecutive block ids coalesce into one view per layer tensor; scattered ids do not', () => {
    const region = allocateRegion('kv', TINY_LAYOUT, 8);
    assert.equal(blockViews(region, { start: 0, end: 3 }, [2, 3, 4, 5]).length, 3 * 2);
    assert.equal(blockViews(region, { start: 0, end: 3 }, [5, 3]).length, 3 * 2 * 2);
    const [first] = blockViews(region, { start: 0, end: 1 }, [2, 3]);
    assert.equal(first?.byteOffset, 2 * 256);
    assert.equal(first?.byteLength, 2 * 256);
    assert.equal(first?.buffer, region.layers[0]?.k.buffer, 'a view into the region, not a copy');
  });
});

describe('data-connection frames', () => {
  it('round-trips a read request and both responses', () => {
    const header = {
      type: 'read' as const,
      from: 'a',
      region: 'kv',
      layout: TINY_LAYOUT,
      layers: { start: 0, end: 3 },
      blockIds: [1, 2],
      bytes: 3072,
    };
    const frame = encodeFrame(header);
    assert.equal(headerLength(frame), frame.length - 4);
    assert.deepEqual(decodeRequest(frame.subarray(4)), header);
    assert.deepEqual(decodeResponse(encodeFrame({ type: 'ok', bytes: 5 }).subarray(4)), {
      type: 'ok',
      bytes: 5,
    });
  });

  it('rejects what is not a transfer-agent frame with TransferProtocolError', () => {
    assert.throws(() => headerLength(new Uint8Array([0, 0, 0, 0])), TransferProtocolError);
    assert.throws(() => headerLength(Buffer.from('GET ')), /out of range .* not a transfer agent/);
    const bad = (h: unknown) => encodeFrame(h as never).subarray(4);
    assert.throws(() => decodeRequest(bad({ type: 'delete' })), /unknown request type "delete"/);
    assert.throws(
      () =>
        decodeRequest(
          bad({ type: 'read', from: 'a', region: 'kv', layout: { ...TINY_LAYOUT, dtype: 'f8' } }),
        ),
      /layout.dtype must be one of f32, f16, bf16/,
    );
    assert.throws(
      () =>
        decodeRequest(
          bad({
            type: 'write',
            from: 'a',
            region: 'kv',
            layout: TINY_LAYOUT,
            layers: { start: 0, end: 1 },
            blockIds: ['1'],
            bytes: 1,
          }),
        ),
      /blockIds: integer\[\]/,
    );
    assert.throws(() => decodeRequest(Buffer.from('{nope')), /not valid JSON/);
  });
});
