import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ModelLoadError } from '../../util/errors.ts';
import { defaultModelDir, fixtureDir } from '../../util/paths.ts';
import { loadModelConfig, parseModelConfig } from './config.ts';

const llamaBase = {
  architectures: ['LlamaForCausalLM'],
  hidden_size: 64,
  intermediate_size: 176,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  vocab_size: 512,
  rms_norm_eps: 1e-5,
  max_position_embeddings: 512,
};

describe('loadModelConfig on the fixtures', () => {
  it('reads a classic Llama config with GQA and an untied head', () => {
    const c = loadModelConfig(fixtureDir('llama-gqa-untied'));
    assert.equal(c.architecture, 'LlamaForCausalLM');
    assert.deepEqual([c.hiddenSize, c.numHeads, c.numKvHeads, c.headDim], [64, 4, 2, 16]);
    assert.equal(c.tieWordEmbeddings, false);
    assert.equal(c.attentionBias, false);
    assert.deepEqual(c.rope, { theta: 10000, scaling: { type: 'default' } });
  });

  it('gives Qwen2 q/k/v bias but no o_proj bias', () => {
    const c = loadModelConfig(fixtureDir('qwen2-bias-tied'));
    assert.equal(c.attentionBias, true);
    assert.equal(c.attentionOutputBias, false);
    assert.equal(c.tieWordEmbeddings, true);
    assert.equal(c.rope.theta, 1e6);
    assert.equal(c.rmsNormEps, 1e-6);
  });

  it('reads the transformers-5 rope_parameters block with llama3 scaling', () => {
    const c = loadModelConfig(fixtureDir('llama3-ropescaling-bf16'));
    assert.equal(c.headDim, 32);
    assert.deepEqual(c.rope, {
      theta: 500000,
      scaling: {
        type: 'llama3',
        factor: 8,
        lowFreqFactor: 1,
        highFreqFactor: 4,
        originalMaxPositionEmbeddings: 64,
      },
    });
  });

  it('takes EOS from config.json and generation_config.json', () => {
    assert.deepEqual(loadModelConfig(defaultModelDir).eosTokenIds, [2]);
  });
});

describe('parseModelConfig', () => {
  it('derives head_dim from hidden/heads and defaults kv heads to heads', () => {
    const { num_key_value_heads: _, ...noKv } = llamaBase;
    const c = parseModelConfig(noKv);
    assert.equal(c.headDim, 16);
    assert.equal(c.numKvHeads, 4);
  });

  it('reads transformers-4 rope_scaling (llama3 and linear)', () => {
    const llama3 = parseModelConfig({
      ...llamaBase,
      rope_theta: 500000,
      rope_scaling: {
        rope_type: 'llama3',
        factor: 32,
        low_freq_factor: 1,
        high_freq_factor: 4,
        original_max_position_embeddings: 8192,
      },
    });
    assert.equal(llama3.rope.theta, 500000);
    assert.equal(llama3.rope.scaling.type, 'llama3');
    const linear = parseModelConfig({ ...llamaBase, rope_scaling: { type: 'linear', factor: 4 } });
    assert.deepEqual(linear.rope, { theta: 10000, scaling: { type: 'linear', factor: 4 } });
  });

  it('merges eos ids given as int or list, generation config first', () => {
    const c = parseModelConfig(
      { ...llamaBase, eos_token_id: 128001, bos_token_id: 128000 },
      { eos_token_id: [128001, 128009] },
    );
    assert.deepEqual(c.eosTokenIds, [128001, 128009]);
    assert.equal(c.bosTokenId, 128000);
  });

  it('applies Llama attention_bias to q/k/v and o', () => {
    const c = parseModelConfig({ ...llamaBase, attention_bias: true });
    assert.equal(c.attentionBias, true);
    assert.equal(c.attentionOutputBias, true);
  });

  it('accepts Mistral without a sliding window and rejects one in use', () => {
    const mistral = { ...llamaBase, architectures: ['MistralForCausalLM'], max_position_embeddings: 32768 };
    assert.equal(parseModelConfig({ ...mistral, sliding_window: null }).architecture, 'MistralForCausalLM');
    assert.throws(
      () => parseModelConfig({ ...mistral, sliding_window: 4096 }, {}, '/m/config.json'),
      (e: Error) =>
        e instanceof ModelLoadError && /\/m\/config\.json/.test(e.message) && /sliding/.test(e.message),
    );
    const qwen = { ...llamaBase, architectures: ['Qwen2ForCausalLM'], sliding_window: 4096 };
    assert.doesNotThrow(() => parseModelConfig({ ...qwen, use_sliding_window: false }));
    assert.throws(() => parseModelConfig({ ...qwen, use_sliding_window: true }), ModelLoadError);
  });

  it('names the file and the supported list for an unknown architecture', () => {
    assert.throws(
      () => parseModelConfig({ ...llamaBase, architectures: ['GPT2LMHeadModel'] }, {}, '/x/config.json'),
      (e: Error) =>
        e instanceof ModelLoadError &&
        e.message.includes('/x/config.json') &&
        e.message.includes('GPT2LMHeadModel') &&
        e.message.includes('LlamaForCausalLM, Qwen2ForCausalLM, MistralForCausalLM'),
    );
  });

  it('rejects unsupported RoPE types and activations', () => {
    assert.throws(
      () => parseModelConfig({ ...llamaBase, rope_scaling: { rope_type: 'yarn', factor: 4 } }),
      /RoPE type "yarn" is not supported; supported: default, linear, llama3/,
    );
    assert.throws(() => parseModelConfig({ ...llamaBase, hidden_act: 'gelu' }), /hidden_act "gelu"/);
    assert.throws(
      () => parseModelConfig({ ...llamaBase, hidden_size: 'big' }),
      /"hidden_size" must be a number/,
    );
  });
});
