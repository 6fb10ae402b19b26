import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { copyFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { InvalidRequestError, TokenizerError } from '../util/errors.ts';
import { defaultModelDir, fixtureDir, repoFixturesDir } from '../util/paths.ts';
import { loadModelSamples, loadTokenizerGoldens } from './golden.ts';
import { Tokenizer } from './tokenizer.ts';

const goldens = loadTokenizerGoldens();

it('finds the tokenizer fixtures', () => {
  assert.ok(goldens.length >= 2, `expected tok-* fixtures in ${repoFixturesDir}`);
});

for (const golden of goldens) {
  describe(`golden ${golden.name}`, async () => {
    const tokenizer = await Tokenizer.fromDir(golden.dir);

    for (const [i, entry] of golden.encode.entries()) {
      it(`encode/decode #${i} ${JSON.stringify(entry.text).slice(0, 40)}`, () => {
        assert.deepEqual(tokenizer.encode(entry.text), entry.ids, 'ids with special tokens');
        assert.deepEqual(tokenizer.encode(entry.text, { addSpecialTokens: false }), entry.ids_no_special);
        assert.equal(tokenizer.decode(entry.ids_no_special), entry.decoded);
        assert.equal(tokenizer.decode(entry.ids, { skipSpecialTokens: true }), entry.decoded_skip_special);
      });
    }

    for (const [i, chat] of golden.chat.entries()) {
      it(`chat #${i} (${chat.messages.length} messages, generation prompt ${chat.add_generation_prompt})`, () => {
        const text = tokenizer.applyChatTemplate(chat.messages, {
          addGenerationPrompt: chat.add_generation_prompt,
        });
        assert.equal(text, chat.text);
        assert.deepEqual(tokenizer.encode(text, { addSpecialTokens: false }), chat.ids);
      });
    }
  });
}

describe('bundled model fortune-llama (ChatML byte-level BPE)', async () => {
  const tokenizer = await Tokenizer.fromDir(defaultModelDir);
  const samples = loadModelSamples();

  it('has the ChatML specials and a chat template', () => {
    assert.equal(tokenizer.vocabSize, 2048);
    assert.equal(tokenizer.bosTokenId, undefined, 'ChatML models have no BOS');
    assert.deepEqual(tokenizer.eosTokenIds, [tokenizer.tokenToId('<|im_end|>')]);
    assert.deepEqual([...tokenizer.specialTokenIds].sort(), [0, 1, 2]);
    assert.equal(tokenizer.idToToken(1), '<|im_start|>');
    assert.ok(tokenizer.hasChatTemplate);
  });

  for (const [i, sample] of samples.entries()) {
    it(`sample #${i}: messages → prompt → prompt_ids, greedy ids → text`, () => {
      const prompt = tokenizer.applyChatTemplate(sample.messages, { addGenerationPrompt: true });
      assert.equal(prompt, sample.prompt);
      assert.deepEqual(tokenizer.encode(sample.prompt), sample.prompt_ids);
      assert.equal(tokenizer.decode(sample.greedy_ids, { skipSpecialTokens: true }), sample.greedy_text);
    });
  }
});

describe('Tokenizer behaviour', async () => {
  const chatml = await Tokenizer.fromDir(defaultModelDir);
  const zephyr = await Tokenizer.fromDir(fixtureDir('tok-sentencepiece-zephyr'));

  it('reads BOS from tokenizer_config and adds it only with special tokens', () => {
    assert.equal(zephyr.bosTokenId, 1);
    assert.deepEqual(zephyr.eosTokenIds, [2]);
    assert.equal(zephyr.encode('hi')[0], 1);
    assert.notEqual(zephyr.encode('hi', { addSpecialTokens: false })[0], 1);
  });

  it('decodes empty input and skips ids the tokenizer does not know', () => {
    assert.equal(chatml.decode([]), '');
    const ids = chatml.encode('hello world');
    assert.equal(chatml.decode([...ids, chatml.vocabSize + 10]), 'hello world');
  });

  it('joins text content parts and treats null content as empty', () => {
    const parts = chatml.applyChatTemplate([
      {
        role: 'user',
        content: [
          { type: 'text', text: 'a' },
          { type: 'text', text: 'b' },
        ],
      },
      { role: 'assistant', content: null },
    ]);
    assert.equal(parts, '<|im_start|>user\na\nb<|im_end|>\n<|im_start|>assistant\n<|im_end|>\n');
  });

  it('passes eos_token to the template (Zephyr template appends it)', () => {
    const text = zephyr.applyChatTemplate([{ role: 'user', content: 'x' }], { addGenerationPrompt: true });
    assert.equal(text, '<|user|>\nx</s><|assistant|>');
  });
});

describe('loading errors and chat template sources', () => {
  const zephyrDir = fixtureDir('tok-sentencepiece-zephyr');

  function scratchDir(): string {
    return mkdtempSync(join(tmpdir(), 'dhw-tok-'));
  }

  it('names the missing tokenizer.json', async () => {
    const dir = scratchDir();
    await assert.rejects(Tokenizer.fromDir(dir), (err: Error) => {
      assert.ok(err instanceof TokenizerError);
      assert.match(err.message, /tokenizer\.json not found/);
      return true;
    });
  });

  it('names an invalid tokenizer_config.json', async () => {
    const dir = scratchDir();
    await copyFile(join(zephyrDir, 'tokenizer.json'), join(dir, 'tokenizer.json'));
    writeFileSync(join(dir, 'tokenizer_config.json'), '{ not json');
    await assert.rejects(Tokenizer.fromDir(dir), /tokenizer_config\.json is not valid JSON/);
  });

  it('uses chat_template from tokenizer_config, string or named list with "default"', async () => {
    const dir = scratchDir();
    await copyFile(join(zephyrDir, 'tokenizer.json'), join(dir, 'tokenizer.json'));
    const config = { bos_token: '<s>', eos_token: { content: '</s>', special: true }, chat_template: '' };

    config.chat_template = '{{ bos_token }}{{ messages[0].content }}{{ eos_token }}';
    writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify(config));
    const fromString = await Tokenizer.fromDir(dir);
    assert.equal(fromString.applyChatTemplate([{ role: 'user', content: 'q' }]), '<s>q</s>');

    const named = [
      { name: 'tool_use', template: 'TOOLS' },
      { name: 'default', template: '{{ messages | length }}' },
    ];
    writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify({ ...config, chat_template: named }));
    const fromList = await Tokenizer.fromDir(dir);
    assert.equal(fromList.applyChatTemplate([{ role: 'user', content: 'q' }]), '1');
  });

  it('loads without a chat template, but applyChatTemplate then says how to fix it', async () => {
    const dir = scratchDir();
    await copyFile(join(zephyrDir, 'tokenizer.json'), join(dir, 'tokenizer.json'));
    writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify({ eos_token: '</s>' }));
    const tokenizer = await Tokenizer.fromDir(dir);
    assert.equal(tokenizer.hasChatTemplate, false);
    assert.throws(
      () => tokenizer.applyChatTemplate([{ role: 'user', content: 'q' }]),
      /chat_template\.jinja/,
    );
  });

  it('reports raise_exception from the template as an invalid request', async () => {
    const dir = scratchDir();
    await copyFile(join(zephyrDir, 'tokenizer.json'), join(dir, 'tokenizer.json'));
    writeFileSync(join(dir, 'tokenizer_config.json'), '{}');
    writeFileSync(join(dir, 'chat_template.jinja'), "{{ raise_exception('roles must alternate') }}");
    const tokenizer = await Tokenizer.fromDir(dir);
    assert.throws(
      () => tokenizer.applyChatTemplate([{ role: 'user', content: 'q' }]),
      (err: Error) => err instanceof InvalidRequestError && /roles must alternate/.test(err.message),
    );
  });
});
