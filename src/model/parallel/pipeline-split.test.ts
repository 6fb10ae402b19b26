/**
 * The model half of pipeline parallelism, without processes: the stages of a split, chained in one process
 * (hidden states handed from one `forward` to the next), give the logits and greedy tokens of the whole
 * model, on every fixture `fixtureDirs()` finds and the bundled fortune-llama, for 2 and 3 stages where
 * the layer count allows. The engine's process pipeline (engine/pipeline/) is tested against this math.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { defaultModelDir, fixtureDirs } from '../../util/paths.ts';
import { argmax } from '../kernels/reference/row-ops.ts';
import { makeBatch, type SequenceChunk } from '../batch-builder.ts';
import { LlamaModel } from '../forward.ts';
import type { ForwardBatch, KvCacheTensors } from '../forward-batch.ts';
import { loadModelConfig } from '../checkpoint/config.ts';
import { describeSplit, splitLayers } from './pipeline-split.ts';

const modelDirs = [
  ...fixtureDirs((dir) => existsSync(join(dir, 'config.json')) && existsSync(join(dir, 'model.safetensors'))),
  { label: 'fortune-llama', dir: defaultModelDir },
];

describe('splitLayers', () => {
  it('cuts contiguous, balanced ranges; leftovers go to the stages before the last', () => {
    assert.deepEqual(
      splitLayers(7, 3).map((p) => [p.start, p.end]),
      [
        [0, 2],
        [2, 5],
        [5, 7],
      ],
    );
    const parts = splitLayers(6, 2);
    assert.deepEqual(
      parts.map((p) => [p.start, p.end, p.embed, p.head]),
      [
        [0, 3, true, false],
        [3, 6, false, true],
      ],
    );
    assert.equal(
      describeSplit(parts),
      'stage 0: layers 0-2 + embedding | stage 1: layers 3-5 + norm + LM head',
    );
    assert.deepEqual(splitLayers(4, 1), [{ start: 0, end: 4, embed: true, head: true }]);
  });

  it('refuses more stages than layers, naming the limit', () => {
    assert.throws(() => splitLayers(2, 3), /larger than the model's 2 layers: use at most 2 stages/);
    assert.throws(() => splitLayers(2, 0), /positive integer/);
  });
});

/** Three sequences of different lengths in one batch, blocks scattered, every row's logits wanted. */
function chunks(vocab: number, blockSize: number): SequenceChunk[] {
  const tokens = (n: number, seed: number) =>
    Array.from({ length: n }, (_, i) => (seed * 31 + i * 7) % vocab);
  return [
    { tokens: tokens(9, 1), startPos: 0, blockTable: Int32Array.from([5, 2, 7]) },
    { tokens: tokens(3, 2), startPos: 0, blockTable: Int32Array.from([0]) },
    { tokens: tokens(6, 3), startPos: 0, blockTable: Int32Array.from([3, 6]) },
  ].map((c) => ({ ...c, blockTable: c.blockTable.subarray(0, Math.ceil(c.tokens.length / blockSize)) }));
}

function forwardChain(stages: LlamaModel[], kvs: KvCacheTensors[], batch: ForwardBatch): Float32Array {
  let hidden: Float32Array | undefined;
  stages.forEach((stage, i) => {
    hidden = stage.forward(batch, kvs[i]!, hidden);
  });
  return hidden!;
}

/** Greedy decoding of one sequence through the chained stages (contiguous blocks). */
function greedyChain(stages: LlamaModel[], kvs: KvCacheTensors[], prompt: number[], n: number): number[] {
  const blockSize = kvs[0]!.blockSize;
  const blockTable = Int32Array.from({ length: kvs[0]!.numBlocks }, (_, i) => i);
  const out: number[] = [];
  let feed = prompt;
  let pos = 0;
  for (let i = 0; i < n; i++) {
    const logits = forwardChain(
      stages,
      kvs,
      makeBatch([{ tokens: feed, startPos: pos, blockTable }], blockSize),
    );
    pos += feed.length;
    const next = argmax(logits);
    out.push(next);
    feed = [next];
  }
  return out;
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

for (const { label, dir } of modelDirs) {
  const numLayers = loadModelConfig(dir).numLayers;
  for (const numStages of [2, 3].filter((p) => p <= numLayers)) {
    describe(`${label}: ${numStages} pipeline stages chained in one process`, () => {
      let whole: LlamaModel;
      let stages: LlamaModel[];
      const blockSize = 4;
      const numBlocks = 16;
      before(async () => {
        whole = await LlamaModel.load(dir, { threads: 1 });
        stages = await Promise.all(
          splitLayers(numLayers, numStages).map((part) => LlamaModel.load(dir, { threads: 1, part })),
        );
      });
      after(async () => {
        await whole.close();
        await Promise.all(stages.map((s) => s.close()));
      });

      it('each stage holds only its layers, and only the first/last hold the embedding/head', () => {
        assert.equal(
          stages.reduce((n, s) => n + s.weights.layers.length, 0),
          numLayers,
        );
        stages.forEach((s, i) => {
          assert.equal(s.kvCacheShape(numBlocks, blockSize).numLayers, s.part.end - s.part.start);
          assert.equal(s.weights.embed.length > 0, i === 0, `stage ${i} embedding`);
          assert.equal(s.weights.lmHead.outDim > 0, i === numStages - 1, `stage ${i} head`);
        });
      });

      it('logits of a 3-sequence batch match the whole model within 1e-4', () => {
        const batch = makeBatch(chunks(whole.config.vocabSize, blockSize), blockSize, 'all');
        const expected = whole.forward(batch, whole.allocateKvCache(numBlocks, blockSize));
        const kvs = stages.map((s) => s.allocateKvCache(numBlocks, blockSize));
        const actual = forwardChain(stages, kvs, batch);
        assert.ok(maxAbsDiff(actual, expected) <= 1e-4, `max abs ${maxAbsDiff(actual, expected)}`);
      });

      it('greedy decoding through the stages equals the whole model', () => {
        const prompt = chunks(whole.config.vocabSize, blockSize)[0]!.tokens as number[];
        const expected = greedyChain([whole], [whole.allocateKvCache(numBlocks, blockSize)], prompt, 12);
        const kvs = stages.map((s) => s.allocateKvCache(numBlocks, blockSize));
        assert.deepEqual(greedyChain(stages, kvs, prompt, 12), expected);
      });

      it('a later stage refuses a batch without hidden states', () => {
        const batch = makeBatch(chunks(whole.config.vocabSize, blockSize), blockSize);
        assert.throws(
          () => stages[1]!.forward(batch, stages[1]!.allocateKvCache(numBlocks, blockSize)),
          /has no embedding: pass the previous stage's hidden states/,
        );
      });
    });
  }
}
