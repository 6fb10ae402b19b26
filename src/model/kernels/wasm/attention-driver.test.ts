/**
 * SIMD paged attention against the TypeScript reference (../reference/attention.ts): random ragged batches (prefill
 * chunks and decode rows of several sequences, scrambled block tables, GQA groups of 1 and 3, head sizes
 * 8 to 64), the fallback when the cache is not in the arena, and the Hugging Face golden logits and greedy
 * continuations of every fixture with the cache placed by `LlamaModel.allocateKvCache`.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fixtureDirs } from '../../../util/paths.ts';
import { pagedAttention } from '../reference/attention.ts';
import { allocateKvCacheTensors, type ForwardBatch } from '../../forward-batch.ts';
import { LlamaModel } from '../../forward.ts';
import { argmax } from '../reference/row-ops.ts';
import { makeBatch } from '../../batch-builder.ts';
import { KernelBackend } from '../backend.ts';
import { kernelModule } from './kernel-module.ts';

function random(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

/** A shuffled permutation of 0..n-1. */
function shuffled(n: number, rnd: () => number): number[] {
  const ids = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [ids[i], ids[j]] = [ids[j]!, ids[i]!];
  }
  return ids;
}

/** Several sequences, each with `cached` tokens already in the cache and `fresh` new ones in this batch. */
function raggedBatch(lengths: [cached: number, fresh: number][], blockSize: number, rnd: () => number) {
  const blocksPer = lengths.map(([c, f]) => Math.ceil((c + f) / blockSize));
  const numBlocks = blocksPer.reduce((a, b) => a + b, 0) + 3;
  const pool = shuffled(numBlocks, rnd);
  const chunks = lengths.map(([cached, fresh], s) => ({
    tokens: Array.from({ length: fresh }, () => 0),
    startPos: cached,
    blockTable: Int32Array.from(pool.splice(0, blocksPer[s]!)),
  }));
  return { batch: makeBatch(chunks, blockSize, 'all'), numBlocks };
}

function maxRelError(a: Float32Array, b: Float32Array): number {
  let maxDiff = 0;
  let maxRef = 1e-30;
  for (let i = 0; i < b.length; i++) {
    maxDiff = Math.max(maxDiff, Math.abs(a[i]! - b[i]!));
    maxRef = Math.max(maxRef, Math.abs(b[i]!));
  }
  return maxDiff / maxRef;
}

const backends: KernelBackend[] = [];
after(() => Promise.all(backends.map((b) => b.close())));

describe('SIMD paged attention', { skip: kernelModule() === null ? 'no WebAssembly SIMD' : false }, () => {
  // [numHeads, numKvHeads, headDim, blockSize, sequences as [cached, fresh]]
  const cases: [number, number, number, number, [number, number][]][] = [
    [1, 1, 8, 4, [[0, 1]]],
    // 96 floats: three register chunks of the V sum, three unrolled passes of the scores; 40: neither
    [
      4,
      2,
      96,
      5,
      [
        [0, 9],
        [20, 1],
      ],
    ],
    [
      2,
      1,
      40,
      4,
      [
        [3, 2],
        [0, 6],
      ],
    ],
    [
      4,
      4,
      16,
      4,
      [
        [0, 7],
        [3, 1],
        [10, 2],
      ],
    ],
    [
      9,
      3,
      64,
      16,
      [
        [0, 33],
        [40, 1],
        [5, 1],
        [17, 16],
      ],
    ],
    [
      8,
      4,
      32,
      3,
      [
        [0, 1],
        [1, 1],
        [29, 5],
      ],
    ],
    [
      6,
      2,
      8,
      16,
      [
        [100, 1],
        [0, 50],
      ],
    ],
  ];
  for (const [numHeads, numKvHeads, headDim, blockSize, lengths] of cases) {
    it(`matches the reference: ${numHeads}/${numKvHeads} heads × ${headDim}, blocks of ${blockSize}, seqs ${JSON.stringify(lengths)}`, async () => {
      const b = await KernelBackend.create({ threads: 1 }, 1 << 20);
      backends.push(b);
      const rnd = random(numHeads * 131 + headDim);
      const { batch, numBlocks } = raggedBatch(lengths, blockSize, rnd);
      const shape = { numBlocks, blockSize, numLayers: 2, numKvHeads, headDim };
      const floats = numBlocks * blockSize * numKvHeads * headDim;
      const arenaKv = { ...shape, ...b.allocKvBuffers(2, floats) };
      const plainKv = allocateKvCacheTensors(shape);
      for (const kv of [arenaKv, plainKv]) {
        const r = random(7);
        for (const layer of [...kv.key, ...kv.value])
          for (let i = 0; i < layer.length; i++) layer[i] = r() * 2 - 1;
      }
      const n = batch.tokenIds.length * numHeads * headDim;
      const q = b.allocF32(n).map(() => rnd() * 4 - 2);
      const fast = b.allocF32(n).fill(Number.NaN);
      const slow = new Float32Array(n).fill(Number.NaN);
      b.attention(fast, q, arenaKv, 1, batch, numHeads);
      pagedAttention(slow, Float32Array.from(q), plainKv, 1, batch, numHeads);
      assert.ok(maxRelError(fast, slow) < 1e-5, `relative error ${maxRelError(fast, slow)}`);
      // A cache outside the arena takes the TypeScript path: the reference's exact result.
      const fallback = b.allocF32(n);
      b.attention(fallback, q, plainKv, 1, batch, numHeads);
      assert.deepEqual(fallback, slow);
    });
  }

  it('rejects a row whose position is not inside its sequence, like the reference', async () => {
    const b = await KernelBackend.create({ threads: 1 }, 1 << 20);
    backends.push(b);
    const { batch, numBlocks } = raggedBatch([[2, 1]], 4, random(1));
    const bad: ForwardBatch = { ...batch, seqs: [{ ...batch.seqs[0]!, contextLen: 2 }] };
    const kv = {
      numBlocks,
      blockSize: 4,
      numLayers: 1,
      numKvHeads: 1,
      headDim: 8,
      ...b.allocKvBuffers(1, numBlocks * 32),
    };
    assert.throws(
      () => b.attention(b.allocF32(8), b.allocF32(8), kv, 0, bad, 1),
      /not below the sequence's contextLen/,
    );
  });
});

interface GoldenCase {
  input_ids: number[];
  logits_file: string;
  greedy_24: number[];
}

describe('forward with the KV cache in the arena (SIMD attention)', {
  skip: kernelModule() === null ? 'no WebAssembly SIMD' : false,
}, () => {
  const fixtures = fixtureDirs(
    (dir) => existsSync(join(dir, 'golden.json')) && existsSync(join(dir, 'config.json')),
  );
  for (const { label, dir } of fixtures) {
    const cases =
      (JSON.parse(readFileSync(join(dir, 'golden.json'), 'utf8')) as { cases?: GoldenCase[] }).cases ?? [];
    for (const [i, c] of cases.entries()) {
      it(`${label} case ${i}: golden logits (max-abs 1e-3) and greedy_24 through a scrambled cache`, async () => {
        const model = await LlamaModel.load(dir, { threads: 1 });
        try {
          const vocab = model.config.vocabSize;
          const all = model.forward(
            makeBatch(
              [{ tokens: c.input_ids, startPos: 0, blockTable: Int32Array.of(0, 1, 2, 3, 4, 5, 6, 7) }],
              16,
              'all',
            ),
            model.allocateKvCache(8, 16),
          );
          const bytes = readFileSync(join(dir, c.logits_file));
          const expected = new Float32Array(
            bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength),
          );
          let maxAbs = 0;
          for (let k = 0; k < expected.length; k++)
            maxAbs = Math.max(maxAbs, Math.abs(all[k]! - expected[k]!));
          assert.ok(maxAbs <= 1e-3, `max-abs ${maxAbs}`);

          const blockSize = 4;
          const blocks = Math.ceil((c.input_ids.length + 24) / blockSize);
          const blockTable = Int32Array.from(shuffled(2 * blocks, random(i + 1)).slice(0, blocks));
          const kv = model.allocateKvCache(2 * blocks, blockSize);
          let logits = model.forward(
            makeBatch([{ tokens: c.input_ids, startPos: 0, blockTable }], blockSize),
            kv,
          );
          const tokens: number[] = [];
          while (tokens.length < 24) {
            tokens.push(argmax(logits, 0, vocab));
            const chunk = {
              tokens: [tokens.at(-1)!],
              startPos: c.input_ids.length + tokens.length - 1,
              blockTable,
            };
            logits = model.forward(makeBatch([chunk], blockSize), kv);
          }
          assert.deepEqual(tokens, c.greedy_24);
        } finally {
          await model.close();
        }
      });
    }
  }
});
