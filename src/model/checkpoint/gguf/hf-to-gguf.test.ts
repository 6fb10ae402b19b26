import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ModelLoadError } from '../../../util/errors.ts';
import { defaultModelDir, fixtureDir } from '../../../util/paths.ts';
import { LlamaModel } from '../../forward.ts';
import { byteLevelTokenizer } from '../random-checkpoint.ts';
import { SequenceSession } from '../../sequence-session.ts';
import { ggufTokenizerMetadata, TOKEN_TYPE } from './gguf-tokenizer.ts';
import { readGgufHeader } from './gguf-reader.ts';
import { convertToGguf } from './hf-to-gguf.ts';

const tmp = mkdtempSync(join(tmpdir(), 'hf-to-gguf-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
const PROMPT = [1, 50, 300, 700, 12, 5, 900, 33, 41, 1500];

function logitsOf(model: LlamaModel, prompt = PROMPT): Float32Array {
  return new SequenceSession(model, { maxTokens: prompt.length }).feed(prompt, 'all');
}

function compare(a: Float32Array, b: Float32Array): { maxAbs: number; relL2: number } {
  let maxAbs = 0;
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    const d = a[i]! - b[i]!;
    maxAbs = Math.max(maxAbs, Math.abs(d));
    num += d * d;
    den += b[i]! * b[i]!;
  }
  return { maxAbs, relL2: Math.sqrt(num / den) };
}

describe('convertToGguf on fortune-llama', () => {
  let reference: Float32Array;
  before(async () => {
    reference = logitsOf(await LlamaModel.load(defaultModelDir));
  });

  it('f32: loading the GGUF back gives bit-identical logits (names, Q/K permutation, config all invert)', async () => {
    const { file, tensors } = await convertToGguf(defaultModelDir, { out: join(tmp, 'f32.gguf') });
    assert.equal(tensors, 2 + 6 * 9, 'tied head: no output.weight');
    const model = await LlamaModel.load(file);
    assert.equal(model.config.tieWordEmbeddings, true);
    assert.equal(model.config.rmsNormEps, 1e-5);
    assert.deepEqual(model.config.eosTokenIds, [2]);
    assert.equal(compare(logitsOf(model), reference).maxAbs, 0);
  });

  it('f16 and q8_0 stay within their precision of the safetensors logits', async () => {
    const f16 = await LlamaModel.load(
      (await convertToGguf(defaultModelDir, { out: join(tmp, 'f16.gguf'), dtype: 'f16' })).file,
    );
    assert.ok(compare(logitsOf(f16), reference).maxAbs < 1e-3);
    const q8 = await LlamaModel.load(
      (await convertToGguf(defaultModelDir, { out: join(tmp, 'q8.gguf'), dtype: 'q8_0' })).file,
    );
    const { relL2 } = compare(logitsOf(q8), reference);
    assert.ok(relL2 < 0.03, `q8_0 relative L2 error ${relL2}`);
    assert.equal(readGgufHeader(join(tmp, 'q8.gguf')).tensors.get('blk.0.attn_q.weight')!.type, 'Q8_0');
    assert.equal(readGgufHeader(join(tmp, 'q8.gguf')).tensors.get('blk.0.attn_norm.weight')!.type, 'F32');
  });

  it('writes the llama.* metadata and a gpt2 vocabulary llama.cpp needs', async () => {
    const { file } = await convertToGguf(defaultModelDir, { out: join(tmp, 'meta.gguf') });
    const m = readGgufHeader(file).metadata;
    const value = (key: string): unknown => m.get(key)?.value;
    assert.equal(value('general.architecture'), 'llama');
    assert.equal(value('llama.block_count'), 6);
    assert.equal(value('llama.embedding_length'), 256);
    assert.equal(value('llama.feed_forward_length'), 704);
    assert.equal(value('llama.attention.head_count'), 8);
    assert.equal(value('llama.attention.head_count_kv'), 4);
    assert.equal(value('llama.rope.dimension_count'), 32);
    assert.equal(value('llama.context_length'), 1024);
    assert.equal(value('llama.rope.freq_base'), 10000);
    assert.equal(value('tokenizer.ggml.model'), 'gpt2');
    const tokenizer = JSON.parse(readFileSync(join(defaultModelDir, 'tokenizer.json'), 'utf8'));
    const tokens = value('tokenizer.ggml.tokens') as string[];
    assert.equal(tokens.length, 2048);
    assert.equal(tokens[tokenizer.model.vocab['Ċ']], 'Ċ');
    assert.deepEqual((value('tokenizer.ggml.token_type') as number[]).slice(0, 4), [3, 3, 3, 1]);
    assert.equal((value('tokenizer.ggml.merges') as string[])[0], tokenizer.model.merges[0].join(' '));
    assert.equal(value('tokenizer.ggml.eos_token_id'), 2);
  });

  it('LlamaModel.load takes a folder holding one .gguf, and refuses a folder holding two', async () => {
    const dir = join(tmp, 'gguf-only');
    mkdirSync(dir);
    copyFileSync(join(tmp, 'f32.gguf'), join(dir, 'fortune.gguf'));
    assert.equal(compare(logitsOf(await LlamaModel.load(dir)), reference).maxAbs, 0);
    copyFileSync(join(tmp, 'f32.gguf'), join(dir, 'second.gguf'));
    await assert.rejects(
      LlamaModel.load(dir),
      (e: unknown) => e instanceof ModelLoadError && /2 GGUF files/.test(e.message),
    );
  });
});

describe('convertToGguf on other checkpoints', () => {
  it('an untied GQA Llama through GGUF still matches the Hugging Face golden logits', async () => {
    const source = fixtureDir('llama-gqa-untied');
    const dir = join(tmp, 'llama-gqa-untied');
    mkdirSync(dir);
    for (const f of ['config.json', 'generation_config.json', 'model.safetensors'])
      copyFileSync(join(source, f), join(dir, f));
    writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(byteLevelTokenizer(512, ['<s>'])));
    const { file } = await convertToGguf(dir);
    assert.ok(readGgufHeader(file).tensors.has('output.weight'));
    const model = await LlamaModel.load(file);
    const golden = JSON.parse(readFileSync(join(source, 'golden.json'), 'utf8')) as {
      cases: { input_ids: number[]; logits_file: string }[];
    };
    for (const c of golden.cases) {
      const bytes = readFileSync(join(source, c.logits_file)); // may be a view into Node's shared pool
      const expected = new Float32Array(
        bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength),
      );
      const got = logitsOf(model, c.input_ids);
      assert.ok(compare(got, expected).maxAbs < 1e-3, `case ${c.logits_file}`);
    }
  });

  it('refuses Qwen2 (a different llama.cpp architecture) with a ModelLoadError', async () => {
    await assert.rejects(
      convertToGguf(fixtureDir('qwen2-bias-tied'), { out: join(tmp, 'qwen.gguf') }),
      (e: unknown) => e instanceof ModelLoadError && /Qwen2/.test(e.message),
    );
  });

  it('pads the vocabulary to the embedding rows and refuses a tokenizer that is neither GPT-2 nor SentencePiece BPE', () => {
    const file = join(tmp, 'tiny-tokenizer.json');
    writeFileSync(file, JSON.stringify(byteLevelTokenizer(300, ['<s>', '</s>'])));
    const meta = ggufTokenizerMetadata(file, 320, { bos: 0, eos: 1, pad: null });
    const tokens = meta['tokenizer.ggml.tokens']!.value as string[];
    const types = meta['tokenizer.ggml.token_type']!.value as number[];
    assert.equal(tokens.length, 320);
    assert.equal(tokens[319], '[PAD319]');
    assert.equal(types[319], TOKEN_TYPE.unused);
    assert.equal(types[0], TOKEN_TYPE.control);
    assert.equal((meta['tokenizer.ggml.merges']!.value as string[]).length, 300 - 258);
    const unigram = join(tmp, 'unigram-tokenizer.json');
    writeFileSync(unigram, JSON.stringify({ model: { type: 'Unigram', vocab: [['<unk>', 0]] } }));
    assert.throws(() => ggufTokenizerMetadata(unigram, 32000, { bos: 1, eos: 2, pad: null }), ModelLoadError);
  });
});
