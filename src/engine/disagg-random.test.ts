/**
 * Disaggregated serving on a random-weight checkpoint with SmolLM2's attention geometry (9 query heads,
 * 3 KV heads of 64 dims: grouped-query attention, unlike fortune-llama), cut to 2 layers and a small
 * vocabulary so it loads in a blink. The copied KV must be laid out exactly as the decode engine's own,
 * head by head, or the tokens would differ from aggregated serving.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { RANDOM_SHAPES, writeRandomCheckpoint } from '../model/checkpoint/random-checkpoint.ts';
import { DEFAULT_SAMPLING, type EngineRequest } from '../protocols/engine.ts';
import { asRequestId } from '../protocols/ids.ts';
import { Mulberry32 } from '../util/prng.ts';
import { LlmEngine } from './llm-engine.ts';
import { CopyKvConnector } from './testing/copy-kv-connector-kit.ts';
import { collect, nextTurn, runDisaggregated, tokenIds } from './testing/disagg-kit.ts';

const VOCAB = 2048;
/** Weights 2.5× wider than transformers' 0.02: with 0.02 the logits are so flat greedy repeats one token. */
const SMOLLM2_GQA = {
  ...RANDOM_SHAPES['smollm2-135m'],
  num_hidden_layers: 2,
  vocab_size: VOCAB,
  initializer_range: 0.05,
};
const BS = 16;

const tmp = mkdtempSync(join(tmpdir(), 'disagg-random-'));
const engines: LlmEngine[] = [];
let counter = 0;

function randomPrompt(n: number, seed: number): number[] {
  const rng = new Mulberry32(seed);
  return Array.from({ length: n }, () => 3 + Math.floor(rng.nextFloat() * (VOCAB - 3))); // no special tokens
}

function request(prompt: number[], over: Partial<EngineRequest> = {}): EngineRequest {
  return {
    requestId: asRequestId(`r${counter++}`),
    promptTokenIds: prompt,
    sampling: { ...DEFAULT_SAMPLING, temperature: 0 },
    stopping: { maxTokens: 8, stopTokenIds: [], ignoreEos: true },
    ...over,
  };
}

describe('disaggregated prefill/decode (random SmolLM2-shaped checkpoint, GQA)', () => {
  let reference: LlmEngine;
  let prefill: LlmEngine;
  let decode: LlmEngine;
  before(async () => {
    const dir = join(tmp, 'smollm2-gqa');
    writeRandomCheckpoint(dir, { shape: SMOLLM2_GQA, seed: 11 });
    const create = async (workerId: string, enablePrefixCaching = true) => {
      const e = await LlmEngine.create({ modelDir: dir, numKvBlocks: 48, workerId, enablePrefixCaching });
      engines.push(e);
      return e;
    };
    reference = await create('reference', false);
    prefill = await create('prefill-0');
    decode = await create('decode-0');
    assert.deepEqual([decode.kvTensors.numKvHeads, decode.kvTensors.headDim], [3, 64]);
    decode.setKvConnector(new CopyKvConnector(decode.kvTensors, new Map([['prefill-0', prefill]])));
  });
  after(async () => {
    for (const e of engines) await e.close();
    rmSync(tmp, { recursive: true, force: true });
  });

  it('greedy: the tokens of aggregated serving at and around block boundaries', async () => {
    for (const [i, n] of [2, BS - 1, BS, BS + 1, 2 * BS - 1, 2 * BS, 2 * BS + 1].entries()) {
      const req = request(randomPrompt(n, 100 + i));
      const expected = await collect(reference, req);
      const run = await runDisaggregated(prefill, decode, req);
      assert.deepEqual(tokenIds(run.decode), tokenIds(expected), `prompt of ${n}`);
      assert.ok(new Set(tokenIds(expected)).size > 2, 'a varied continuation, not one repeated token');
      assert.equal(run.decode[0]!.numCachedTokens, n - 1);
      assert.equal(run.params.firstTokenId, expected[0]!.tokenId);
    }
    await nextTurn();
    for (const e of [prefill, decode]) assert.equal(e.kv.numActiveBlocks(), 0);
  });

  it('a seeded temperature > 0 request samples the same tokens as aggregated serving', async () => {
    const req = request(randomPrompt(37, 7), {
      sampling: { ...DEFAULT_SAMPLING, temperature: 1, topK: 50, seed: 99 },
    });
    const expected = await collect(reference, req);
    const run = await runDisaggregated(prefill, decode, req);
    assert.deepEqual(tokenIds(run.decode), tokenIds(expected));
    for (const e of [prefill, decode]) assert.equal(e.kv.numActiveBlocks(), 0);
  });
});
