/**
 * The correctness bar: our forward pass against Hugging Face transformers' own outputs, for every model
 * folder with a golden.json that `fixtureDirs()` finds, plus the bundled fortune-llama. `fixtureDirs()` lists
 * the in-repo fixtures/ and, when the maintainers keep their reference folder beside the checkout, every model
 * there too: by name, theirs is tested (it is the source) and the in-repo copy only if its bytes differ
 * ("NAME (repo copy)"), so identical fixtures are not run twice and a stale copy still fails here.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { defaultModelDir, fixtureDir, fixtureDirs } from '../util/paths.ts';
import { allocateKvCacheTensors } from './forward-batch.ts';
import { LlamaModel } from './forward.ts';
import { makeBatch } from './batch-builder.ts';
import { argmax } from './kernels/reference/row-ops.ts';
import { greedyGenerate, SequenceSession } from './sequence-session.ts';

interface GoldenCase {
  input_ids: number[];
  logits_file: string;
  logits_shape: [number, number];
  greedy_24: number[];
}
interface GoldenSample {
  prompt_ids: number[];
  greedy_ids: number[];
  last_top5_ids?: number[];
  last_top5_logits?: number[];
}
interface Golden {
  cases?: GoldenCase[];
  samples?: GoldenSample[];
}

const MAX_ABS = 1e-3;
const MAX_REL_L2 = 1e-4;

const modelDirs = [
  ...fixtureDirs((dir) => existsSync(join(dir, 'golden.json')) && existsSync(join(dir, 'config.json'))),
  { label: 'fortune-llama', dir: defaultModelDir },
];

function readGolden(dir: string): Golden {
  return JSON.parse(readFileSync(join(dir, 'golden.json'), 'utf8')) as Golden;
}

/** Raw little-endian float32 file → Float32Array (copied, so alignment does not matter). */
function readF32(file: string): Float32Array {
  const bytes = readFileSync(file);
  return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
}

function compare(actual: Float32Array, expected: Float32Array): { maxAbs: number; relL2: number } {
  assert.equal(actual.length, expected.length, 'logits size');
  let maxAbs = 0;
  let diffSq = 0;
  let refSq = 0;
  for (let i = 0; i < expected.length; i++) {
    const d = actual[i]! - expected[i]!;
    maxAbs = Math.max(maxAbs, Math.abs(d));
    diffSq += d * d;
    refSq += expected[i]! * expected[i]!;
  }
  return { maxAbs, relL2: Math.sqrt(diffSq / refSq) };
}

/** `count` distinct block ids drawn from 0..pool-1 in a scrambled order, so paging is really exercised. */
function scrambledBlocks(count: number, pool: number, seed: number): Int32Array {
  const ids = Array.from({ length: pool }, (_, i) => i);
  let s = seed;
  for (let i = pool - 1; i > 0; i--) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    const j = s % (i + 1);
    [ids[i], ids[j]] = [ids[j]!, ids[i]!];
  }
  return Int32Array.from(ids.slice(0, count));
}

for (const { label, dir } of modelDirs) {
  const golden = readGolden(dir);
  describe(`golden ${label}`, () => {
    let model: LlamaModel;
    let fused: LlamaModel; // relaxed-SIMD fused multiply-add matmuls: the fast path, not bit-exact
    before(async () => {
      model = await LlamaModel.load(dir);
      fused = await LlamaModel.load(dir, { relaxedSimd: true });
    });
    after(() => fused.close());

    it('golden.json has cases or samples to check', () => {
      assert.ok((golden.cases?.length ?? 0) + (golden.samples?.length ?? 0) > 0);
    });

    for (const [i, c] of (golden.cases ?? []).entries()) {
      it(`case ${i} (${c.input_ids.length} tokens): logits of every position match the reference`, (t) => {
        const session = new SequenceSession(model, { maxTokens: c.input_ids.length, blockSize: 16 });
        const logits = session.feed(c.input_ids, 'all');
        assert.deepEqual(c.logits_shape, [c.input_ids.length, model.config.vocabSize]);
        const { maxAbs, relL2 } = compare(logits, readF32(join(dir, c.logits_file)));
        t.diagnostic(`max-abs ${maxAbs.toExponential(2)} rel-L2 ${relL2.toExponential(2)}`);
        assert.ok(maxAbs <= MAX_ABS, `max-abs error ${maxAbs}`);
        assert.ok(relL2 <= MAX_REL_L2, `relative L2 error ${relL2}`);
      });

      it(`case ${i}: the fused multiply-add kernels match the reference as closely`, (t) => {
        const session = new SequenceSession(fused, { maxTokens: c.input_ids.length, blockSize: 16 });
        const { maxAbs, relL2 } = compare(
          session.feed(c.input_ids, 'all'),
          readF32(join(dir, c.logits_file)),
        );
        t.diagnostic(`max-abs ${maxAbs.toExponential(2)} rel-L2 ${relL2.toExponential(2)}`);
        assert.ok(maxAbs <= MAX_ABS, `max-abs error ${maxAbs}`);
        assert.ok(relL2 <= MAX_REL_L2, `relative L2 error ${relL2}`);
      });

      it(`case ${i}: greedy_24 reproduced by decoding through a scrambled paged cache`, () => {
        const blockSize = 4;
        const blocks = Math.ceil((c.input_ids.length + 24) / blockSize);
        const blockTable = scrambledBlocks(blocks, 2 * blocks, 1 + i);
        const tokens = greedyGenerate(model, c.input_ids, 24, { blockSize, blockTable });
        assert.deepEqual(tokens, c.greedy_24);
      });
    }

    for (const [i, s] of (golden.samples ?? []).entries()) {
      it(`sample ${i}: top-5 logits of the last prompt position`, { skip: !s.last_top5_ids }, () => {
        const logits = new SequenceSession(model, { maxTokens: s.prompt_ids.length }).feed(s.prompt_ids);
        const top5 = [...logits.keys()].sort((a, b) => logits[b]! - logits[a]!).slice(0, 5);
        assert.deepEqual(top5, s.last_top5_ids);
        for (const [k, id] of top5.entries())
          assert.ok(Math.abs(logits[id]! - s.last_top5_logits![k]!) <= MAX_ABS);
      });

      it(`sample ${i}: greedy continuation up to and including EOS`, () => {
        const blockSize = 16;
        const blocks = Math.ceil((s.prompt_ids.length + 256) / blockSize);
        const tokens = greedyGenerate(model, s.prompt_ids, 256, {
          blockSize,
          blockTable: scrambledBlocks(blocks, blocks + 5, 7 + i),
          eosTokenIds: model.config.eosTokenIds,
        });
        assert.deepEqual(tokens, s.greedy_ids);
      });
    }
  });
}

describe('batched forward', () => {
  const dir = fixtureDir('qwen2-bias-tied');
  const cases = existsSync(dir) ? readGolden(dir).cases! : [];

  it('mixes sequences of different lengths, chunked prefill and decode in one batch', {
    skip: cases.length < 2,
  }, async () => {
    const model = await LlamaModel.load(dir);
    const blockSize = 4;
    const kv = allocateKvCacheTensors(model.kvCacheShape(128, blockSize));
    const pool = scrambledBlocks(128, 128, 3);
    let next = 0;
    const seqs = cases.map((c) => {
      const blocks = Math.ceil(c.input_ids.length / blockSize);
      const blockTable = pool.slice(next, next + blocks);
      next += blocks;
      return { ids: c.input_ids, blockTable, split: Math.ceil(c.input_ids.length / 3) };
    });

    // Step 1: the first third of every sequence. Step 2: the rest (a 1-token sequence has nothing left; a
    // 2-token one decodes a single token), all in the same batches.
    const step1 = makeBatch(
      seqs.map((s) => ({ tokens: s.ids.slice(0, s.split), startPos: 0, blockTable: s.blockTable })),
      blockSize,
      'all',
    );
    const logits1 = model.forward(step1, kv);
    const rest = seqs.filter((s) => s.split < s.ids.length);
    const step2 = makeBatch(
      rest.map((s) => ({ tokens: s.ids.slice(s.split), startPos: s.split, blockTable: s.blockTable })),
      blockSize,
      'all',
    );
    const logits2 = model.forward(step2, kv);

    // Reassemble each sequence's rows and compare with the sequence run alone.
    const vocab = model.config.vocabSize;
    let row1 = 0;
    let row2 = 0;
    for (const s of seqs) {
      const alone = new SequenceSession(model, { maxTokens: s.ids.length, blockSize }).feed(s.ids, 'all');
      const batched = new Float32Array(s.ids.length * vocab);
      batched.set(logits1.subarray(row1 * vocab, (row1 + s.split) * vocab), 0);
      row1 += s.split;
      const restLen = s.ids.length - s.split;
      batched.set(logits2.subarray(row2 * vocab, (row2 + restLen) * vocab), s.split * vocab);
      row2 += restLen;
      const { maxAbs } = compare(batched, alone);
      assert.ok(
        maxAbs <= 1e-5,
        `sequence of ${s.ids.length} tokens: batched differs from alone by ${maxAbs}`,
      );
    }
  });

  it('returns logits only for the requested rows, in order', async () => {
    const model = await LlamaModel.load(dir);
    const ids = cases[2]!.input_ids;
    const blockTable = Int32Array.from({ length: Math.ceil(ids.length / 16) }, (_, i) => i);
    const kvShape = model.kvCacheShape(blockTable.length, 16);
    const all = model.forward(
      makeBatch([{ tokens: ids, startPos: 0, blockTable }], 16, 'all'),
      allocateKvCacheTensors(kvShape),
    );
    const batch = makeBatch([{ tokens: ids, startPos: 0, blockTable }], 16, 'all');
    batch.logitsRows = Int32Array.of(5, 0);
    const some = model.forward(batch, allocateKvCacheTensors(kvShape));
    const vocab = model.config.vocabSize;
    assert.equal(some.length, 2 * vocab);
    assert.deepEqual(some.subarray(0, vocab), all.subarray(5 * vocab, 6 * vocab));
    assert.deepEqual(some.subarray(vocab), all.subarray(0, vocab));
  });
});

describe('greedy forward', () => {
  it('forwardGreedy picks argmax of every wanted row of forward, on wasm and TypeScript kernels, f32 and q8_0', async () => {
    for (const options of [
      { threads: 1 },
      { threads: 1, weightDtype: 'q8_0' as const },
      { kernels: 'ts' as const },
    ]) {
      const model = await LlamaModel.load(defaultModelDir, options);
      try {
        const vocab = model.config.vocabSize;
        const kv = model.allocateKvCache(1, 16);
        const prompt = [5, 17, 3, 99, 42, 7, 11];
        const batch = makeBatch([{ tokens: prompt, startPos: 0, blockTable: Int32Array.of(0) }], 16, 'all');
        const logits = model.forward(batch, kv);
        const want = prompt.map((_, r) => argmax(logits.subarray(r * vocab, (r + 1) * vocab)));
        assert.deepEqual(model.forwardGreedy(batch, kv), want, JSON.stringify(options));
      } finally {
        await model.close();
      }
    }
  });
});
