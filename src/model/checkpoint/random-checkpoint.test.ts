import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { parseModelConfig } from './config.ts';
import { RANDOM_SHAPES, writeRandomCheckpoint } from './random-checkpoint.ts';
import { loadModel } from './load-model.ts';
import { expectedTensors } from './weights.ts';

const tmp = mkdtempSync(join(tmpdir(), 'random-checkpoint-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

const TINY = {
  architectures: ['LlamaForCausalLM'],
  hidden_size: 64,
  intermediate_size: 96,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  vocab_size: 320,
  max_position_embeddings: 128,
  tie_word_embeddings: false,
  initializer_range: 0.02,
  eos_token_id: 2,
};

function parameterCount(raw: Record<string, unknown>): number {
  const config = parseModelConfig(raw);
  return [...expectedTensors(config).values()].reduce(
    (sum, shape) => sum + shape.reduce((a, b) => a * b, 1),
    0,
  );
}

describe('random-weight checkpoints', () => {
  it('the named shapes have the published parameter counts', () => {
    assert.equal(parameterCount(RANDOM_SHAPES['smollm2-135m']), 134_515_008);
    assert.equal(parameterCount(RANDOM_SHAPES['tinyllama-1.1b']), 1_100_048_384);
  });

  it('writes a loadable checkpoint with N(0, 0.02) weights, unit norms and a full-size tokenizer', async () => {
    const dir = join(tmp, 'tiny');
    const result = writeRandomCheckpoint(dir, { shape: TINY, seed: 7 });
    assert.equal(result.parameters, parameterCount(TINY));
    const { config, weights } = await loadModel(dir);
    assert.equal(config.vocabSize, 320);
    assert.ok(weights.layers[1]!.mlpNorm.every((v) => v === 1));
    const w = weights.layers[0]!.wGate;
    const mean = w.reduce((a, b) => a + b, 0) / w.length;
    const std = Math.sqrt(w.reduce((a, b) => a + (b - mean) ** 2, 0) / w.length);
    assert.ok(Math.abs(mean) < 0.002 && Math.abs(std - 0.02) < 0.002, `mean ${mean}, std ${std}`);
    assert.notDeepEqual(weights.lmHead, weights.embed, 'untied head has its own values');
    const tokenizer = JSON.parse(readFileSync(join(dir, 'tokenizer.json'), 'utf8'));
    const ids = Object.values(tokenizer.model.vocab as Record<string, number>).sort((a, b) => a - b);
    assert.deepEqual(
      ids,
      Array.from({ length: 320 }, (_, i) => i),
      'ids 0..vocab-1, each once',
    );
    assert.equal(tokenizer.model.vocab['Ċ'], 3 + 10, 'byte 0x0a is GPT-2 symbol Ċ');
  });

  it('is deterministic per seed, in f32 and bf16, and sharding does not change the weights', async () => {
    const a = writeRandomCheckpoint(join(tmp, 'a'), { shape: TINY, seed: 1 });
    const b = writeRandomCheckpoint(join(tmp, 'b'), { shape: TINY, seed: 1 });
    const c = writeRandomCheckpoint(join(tmp, 'c'), { shape: TINY, seed: 2 });
    assert.deepEqual(readFileSync(a.shards[0]!), readFileSync(b.shards[0]!));
    assert.notDeepEqual(readFileSync(a.shards[0]!), readFileSync(c.shards[0]!));
    const sharded = writeRandomCheckpoint(join(tmp, 'sharded'), {
      shape: TINY,
      seed: 1,
      maxShardBytes: 40_000,
    });
    assert.ok(sharded.shards.length > 2, `${sharded.shards.length} shards`);
    const [single, multi] = [await loadModel(a.dir), await loadModel(sharded.dir)];
    assert.deepEqual(multi.weights.layers[1]!.wDown, single.weights.layers[1]!.wDown);
    assert.deepEqual(multi.weights.lmHead, single.weights.lmHead);
    const bf16 = await loadModel(
      writeRandomCheckpoint(join(tmp, 'bf16'), { shape: TINY, seed: 1, dtype: 'BF16' }).dir,
    );
    assert.equal(bf16.config.declaredDtype, 'bfloat16');
    const x = single.weights.embed;
    const y = bf16.weights.embed;
    for (let i = 0; i < x.length; i++)
      assert.ok(Math.abs(x[i]! - y[i]!) <= Math.abs(x[i]!) * 2 ** -8, `embed ${i}`);
  });
});
