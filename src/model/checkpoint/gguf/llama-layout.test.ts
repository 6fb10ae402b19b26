import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseModelConfig } from '../config.ts';
import { expectedTensors } from '../weights.ts';
import {
  ggufToHfName,
  hfToGgufName,
  permuteForGguf,
  ropePermutationHeads,
  unpermuteFromGguf,
} from './llama-layout.ts';

describe('llama.cpp tensor names', () => {
  it('map every Llama tensor both ways', () => {
    const config = parseModelConfig({
      architectures: ['LlamaForCausalLM'],
      hidden_size: 64,
      intermediate_size: 128,
      num_hidden_layers: 2,
      num_attention_heads: 4,
      vocab_size: 300,
      attention_bias: true,
    });
    const names = [...expectedTensors(config).keys()];
    assert.ok(names.includes('lm_head.weight'), 'untied: the head has its own tensor');
    const gguf = names.map((n) => hfToGgufName(n));
    assert.ok(gguf.includes('blk.1.attn_output.bias'));
    assert.ok(gguf.includes('blk.0.ffn_down.weight'));
    assert.deepEqual(new Set(gguf).size, names.length, 'no two tensors share a GGUF name');
    assert.deepEqual(
      gguf.map((n) => ggufToHfName(n!)),
      names,
    );
    assert.equal(hfToGgufName('model.layers.3.self_attn.k_proj.weight'), 'blk.3.attn_k.weight');
    assert.equal(hfToGgufName('model.rotary_emb.inv_freq'), null);
  });
});

describe('Q/K rope permutation', () => {
  it('interleaves the two halves of each head, like convert_hf_to_gguf.py', () => {
    // 2 heads of headDim 4, one column: HF rows per head [a0 a1 | b0 b1] → GGUF [a0 b0 a1 b1].
    const hf = Float32Array.from([10, 11, 20, 21, 30, 31, 40, 41]);
    assert.deepEqual([...permuteForGguf(hf, 2, 1)], [10, 20, 11, 21, 30, 40, 31, 41]);
  });

  it('moves whole rows and is undone by unpermuteFromGguf', () => {
    const rows = 3 * 8;
    const cols = 5;
    const w = Float32Array.from({ length: rows * cols }, (_, i) => i);
    const p = permuteForGguf(w, 3, cols);
    assert.deepEqual(
      [...p.subarray(cols, 2 * cols)],
      [...w.subarray(4 * cols, 5 * cols)],
      'GGUF row 1 = HF row 4',
    );
    assert.deepEqual(unpermuteFromGguf(p, 3, cols), w);
  });

  it('applies to q_proj by query heads and k_proj by KV heads only', () => {
    assert.equal(ropePermutationHeads('layers.0.self_attn.q_proj.weight', 9, 3), 9);
    assert.equal(ropePermutationHeads('layers.0.self_attn.k_proj.bias', 9, 3), 3);
    assert.equal(ropePermutationHeads('layers.0.self_attn.v_proj.weight', 9, 3), null);
  });
});
