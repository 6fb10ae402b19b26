/**
 * A GGUF file → a model folder (gguf-model-folder.ts): the rebuilt tokenizer.json holds the original's
 * vocabulary, merges and special tokens; it encodes, decodes and renders chats exactly like the checkpoint
 * folder's tokenizer; config.json parses back to the same ModelConfig; add_bos_token round-trips;
 * SentencePiece GGUFs are refused with a message.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Tokenizer } from '../../../tokens/tokenizer.ts';
import { ModelLoadError } from '../../../util/errors.ts';
import { defaultModelDir, fixtureDir } from '../../../util/paths.ts';
import { loadModelConfig } from '../config.ts';
import { byteLevelTokenizer } from '../random-checkpoint.ts';
import { arr, type GgufMetadata, str, u32 } from './gguf-format.ts';
import { GGUF_LINK_NAME, ggufModelFolder } from './gguf-model-folder.ts';
import { tokenizerFromGguf } from './gguf-to-tokenizer.ts';
import { ggufTokenizerMetadata, TOKEN_TYPE } from './gguf-tokenizer.ts';
import { convertToGguf } from './hf-to-gguf.ts';
import { ggufFileFor } from './load-gguf.ts';

const tmp = mkdtempSync(join(tmpdir(), 'gguf-folder-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
const root = join(tmp, 'derived');

const TEXTS = [
  'Tell me a fortune.',
  "  leading spaces, numbers 12345 and punctuation?! don't",
  'newlines\n\nand tabs\tand unicode: café — 日本',
  '<|im_start|>user\nhi<|im_end|>',
];

describe('ggufModelFolder on the bundled model', () => {
  let gguf: string;
  let derived: string;
  before(async () => {
    gguf = (await convertToGguf(defaultModelDir, { out: join(tmp, 'fortune-f32.gguf') })).file;
    derived = ggufModelFolder(gguf, root);
  });

  it('is named after the file and links to it, so loadModel finds the weights', () => {
    assert.equal(basename(derived), 'fortune-f32');
    assert.equal(realpathSync(join(derived, GGUF_LINK_NAME)), realpathSync(gguf));
    assert.equal(ggufFileFor(derived), join(derived, GGUF_LINK_NAME));
    assert.equal(ggufModelFolder(gguf, root), derived, 'same file → same folder');
  });

  it('rebuilds the vocabulary, merges and special tokens of tokenizer.json', () => {
    const original = JSON.parse(readFileSync(join(defaultModelDir, 'tokenizer.json'), 'utf8'));
    const rebuilt = JSON.parse(readFileSync(join(derived, 'tokenizer.json'), 'utf8'));
    assert.deepEqual(rebuilt.model.vocab, original.model.vocab);
    assert.deepEqual(rebuilt.model.merges, original.model.merges);
    assert.deepEqual(rebuilt.added_tokens, original.added_tokens);
    assert.deepEqual(rebuilt.pre_tokenizer, original.pre_tokenizer);
  });

  it('encodes, decodes and renders chats exactly like the checkpoint folder', async () => {
    const [a, b] = [await Tokenizer.fromDir(defaultModelDir), await Tokenizer.fromDir(derived)];
    assert.equal(b.vocabSize, a.vocabSize);
    assert.deepEqual(b.eosTokenIds, a.eosTokenIds);
    assert.equal(b.bosTokenId, a.bosTokenId);
    for (const text of TEXTS) {
      const ids = a.encode(text);
      assert.deepEqual(b.encode(text), ids, text);
      assert.equal(b.decode(ids), a.decode(ids));
    }
    const messages = [{ role: 'user', content: 'Tell me a fortune' }];
    const opts = { addGenerationPrompt: true };
    assert.equal(b.applyChatTemplate(messages, opts), a.applyChatTemplate(messages, opts));
  });

  it('writes a config.json that parses to the same ModelConfig', () => {
    const { declaredDtype, ...rebuilt } = loadModelConfig(derived);
    const { declaredDtype: _, ...original } = loadModelConfig(defaultModelDir);
    assert.deepEqual(rebuilt, original);
    assert.equal(declaredDtype, 'float32', 'the GGUF file type, not the safetensors dtype');
  });
});

describe('tokenizerFromGguf', () => {
  it("turns a TemplateProcessing BOS into add_bos_token and back (the fixture's untied GQA checkpoint)", async () => {
    const source = fixtureDir('llama-gqa-untied');
    const dir = join(tmp, 'gqa');
    mkdirSync(dir);
    for (const f of ['config.json', 'generation_config.json', 'model.safetensors'])
      writeFileSync(join(dir, f), readFileSync(join(source, f)));
    const json = byteLevelTokenizer(512, ['<s>', '</s>']);
    json.post_processor = {
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
      pair: [],
      special_tokens: { '<s>': { id: '<s>', ids: [0], tokens: ['<s>'] } },
    };
    writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(json));
    writeFileSync(
      join(dir, 'tokenizer_config.json'),
      JSON.stringify({ bos_token: '<s>', eos_token: '</s>' }),
    );
    const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...config, bos_token_id: 0, eos_token_id: 1 }));
    const { file } = await convertToGguf(dir);
    const [a, b] = [await Tokenizer.fromDir(dir), await Tokenizer.fromDir(ggufModelFolder(file, root))];
    for (const text of TEXTS) assert.deepEqual(b.encode(text), a.encode(text), text);
    assert.equal(b.encode('x')[0], 0, 'BOS prepended');
  });

  it('rebuilds the pre-tokenizer tokenizer.ggml.pre names: "llama-bpe" splits a space off digits, "gpt-2" not', () => {
    const file = join(defaultModelDir, 'tokenizer.json');
    const chatTemplate = { kind: 'none' as const, reason: 'test' };
    const build = (pre: string): Tokenizer => {
      const meta = new Map(
        Object.entries(ggufTokenizerMetadata(file, 2048, { bos: null, eos: 2, pad: null }, pre)),
      );
      const { tokenizerJson, tokenizerConfig } = tokenizerFromGguf(meta, 'x.gguf');
      return Tokenizer.fromFiles({ dir: tmp, tokenizerJson, tokenizerConfig, chatTemplate });
    };
    const text = 'born in 1984, then 20071';
    const pieces = (t: Tokenizer): string[] => t.encode(text).map((id) => t.decode([id]));
    const [gpt2, llama3] = [pieces(build('gpt-2')), pieces(build('llama-bpe'))];
    assert.equal(gpt2.join(''), text);
    assert.equal(llama3.join(''), text);
    assert.ok(gpt2.includes(' 198'), `GPT-2 keeps the space with the digits: ${gpt2.join('|')}`);
    const digits = llama3.filter((p) => /\d/.test(p));
    assert.ok(
      digits.every((p) => /^\d{1,3}$/.test(p)),
      `Llama 3 splits digits alone, 3 at most: ${llama3.join('|')}`,
    );
  });

  const zephyr = fixtureDir('tok-sentencepiece-zephyr');
  const zephyrTemplate = readFileSync(join(zephyr, 'chat_template.jinja'), 'utf8');

  /** Every transformers golden of the Zephyr fixture, through a tokenizer rebuilt from GGUF metadata. */
  function checkZephyrGoldens(meta: GgufMetadata): void {
    const { tokenizerJson, tokenizerConfig } = tokenizerFromGguf(meta, 'zephyr.gguf');
    const t = Tokenizer.fromFiles({
      dir: tmp,
      tokenizerJson,
      tokenizerConfig,
      chatTemplate: {
        kind: 'template',
        template: String(tokenizerConfig.chat_template),
        origin: 'zephyr.gguf',
      },
    });
    const golden = JSON.parse(readFileSync(join(zephyr, 'tokenizer_golden.json'), 'utf8')) as {
      encode: {
        text: string;
        ids: number[];
        ids_no_special: number[];
        decoded: string;
        decoded_skip_special: string;
      }[];
      chat: {
        messages: { role: string; content: string }[];
        add_generation_prompt: boolean;
        text: string;
        ids: number[];
      }[];
    };
    for (const c of golden.encode) {
      assert.deepEqual(t.encode(c.text), c.ids, c.text);
      assert.deepEqual(t.encode(c.text, { addSpecialTokens: false }), c.ids_no_special, c.text);
      assert.equal(t.decode(c.ids_no_special), c.decoded, c.text);
      assert.equal(t.decode(c.ids, { skipSpecialTokens: true }), c.decoded_skip_special, c.text);
    }
    for (const c of golden.chat) {
      const text = t.applyChatTemplate(c.messages, { addGenerationPrompt: c.add_generation_prompt });
      assert.equal(text, c.text);
      assert.deepEqual(t.encode(text, { addSpecialTokens: false }), c.ids);
    }
  }

  it('rebuilds a SentencePiece ("llama") vocabulary from pieces and scores: the Zephyr goldens hold', () => {
    // What llama.cpp writes from a SentencePiece model file: pieces by id, types (unknown, control, byte,
    // normal), SentencePiece's scores (a BPE piece scores minus its merge order: -id here), BOS/EOS/UNK.
    const json = JSON.parse(readFileSync(join(zephyr, 'tokenizer.json'), 'utf8')) as {
      model: { vocab: Record<string, number> };
    };
    const tokens: string[] = [];
    for (const [piece, id] of Object.entries(json.model.vocab)) tokens[id] = piece;
    const types = tokens.map((t, id) =>
      id === 0
        ? TOKEN_TYPE.unknown
        : id <= 2
          ? TOKEN_TYPE.control
          : /^<0x[0-9A-F]{2}>$/.test(t)
            ? TOKEN_TYPE.byte
            : TOKEN_TYPE.normal,
    );
    checkZephyrGoldens(
      new Map([
        ['tokenizer.ggml.model', str('llama')],
        ['tokenizer.ggml.tokens', arr('string', tokens)],
        [
          'tokenizer.ggml.scores',
          arr(
            'float32',
            tokens.map((_, id) => (types[id] === TOKEN_TYPE.normal ? -id : 0)),
          ),
        ],
        ['tokenizer.ggml.token_type', arr('int32', types)],
        ['tokenizer.ggml.unknown_token_id', u32(0)],
        ['tokenizer.ggml.bos_token_id', u32(1)],
        ['tokenizer.ggml.eos_token_id', u32(2)],
        ['tokenizer.chat_template', str(zephyrTemplate)],
      ]),
    );
  });

  it('exports a SentencePiece tokenizer.json (scores from merge ranks) and rebuilds it: the Zephyr goldens hold', () => {
    const entries = ggufTokenizerMetadata(join(zephyr, 'tokenizer.json'), 1024, {
      bos: 1,
      eos: 2,
      pad: null,
    });
    assert.equal(entries['tokenizer.ggml.model']!.value, 'llama');
    assert.equal(entries['tokenizer.ggml.add_bos_token']!.value, true);
    assert.equal(entries['tokenizer.ggml.unknown_token_id']!.value, 0);
    checkZephyrGoldens(
      new Map([...Object.entries(entries), ['tokenizer.chat_template', str(zephyrTemplate)]]),
    );
  });

  it('refuses an unknown tokenizer model and an unknown pre-tokenizer, naming the fix', () => {
    const meta = new Map([
      ['tokenizer.ggml.model', str('rwkv')],
      ['tokenizer.ggml.tokens', arr('string', ['<unk>', '<s>'])],
    ]);
    assert.throws(
      () => tokenizerFromGguf(meta, 'x.gguf'),
      (e: unknown) => e instanceof ModelLoadError && /"rwkv".*checkpoint folder/.test(e.message),
    );
    meta.set('tokenizer.ggml.model', str('gpt2'));
    meta.set('tokenizer.ggml.pre', str('qwen2'));
    assert.throws(
      () => tokenizerFromGguf(meta, 'x.gguf'),
      (e: unknown) => e instanceof ModelLoadError && /"qwen2" is not supported/.test(e.message),
    );
  });
});
