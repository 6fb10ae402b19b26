import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { defaultModelDir } from '../util/paths.ts';
import { StreamingDetokenizer } from './detokenizer.ts';
import { loadModelSamples, loadTokenizerGoldens } from './golden.ts';
import { Tokenizer } from './tokenizer.ts';

/** A string that ends in half a character: replacement char or a lone high surrogate. */
function hasPartialCharacter(text: string): boolean {
  return text.includes('\uFFFD') || /[\uD800-\uDBFF]$/.test(text) || /^[\uDC00-\uDFFF]/.test(text);
}

/** Push ids one by one; returns every delta (flush last) so tests can inspect them. */
function stream(
  tokenizer: Tokenizer,
  ids: number[],
  opts: ConstructorParameters<typeof StreamingDetokenizer>[1] = {},
) {
  const detok = new StreamingDetokenizer(tokenizer, opts);
  const deltas = ids.map((id) => detok.push(id));
  deltas.push(detok.flush());
  assert.equal(deltas.join(''), detok.text, 'text is the concatenation of all deltas');
  return { deltas, text: detok.text };
}

for (const golden of loadTokenizerGoldens()) {
  describe(`streaming ${golden.name}`, async () => {
    const tokenizer = await Tokenizer.fromDir(golden.dir);
    for (const [i, entry] of golden.encode.entries()) {
      it(`#${i} ${JSON.stringify(entry.text).slice(0, 40)}: token-by-token equals full decode`, () => {
        assert.equal(stream(tokenizer, entry.ids).text, tokenizer.decode(entry.ids));
        const skipped = stream(tokenizer, entry.ids, { skipSpecialTokens: true }).text;
        assert.equal(skipped, entry.decoded_skip_special);
        assert.equal(stream(tokenizer, entry.ids_no_special).text, entry.decoded);
      });
    }
    for (const [i, chat] of golden.chat.entries()) {
      it(`chat #${i}: token-by-token equals full decode`, () => {
        assert.equal(stream(tokenizer, chat.ids).text, tokenizer.decode(chat.ids));
      });
    }
  });
}

describe('streaming never splits a character', async () => {
  const [zephyr] = loadTokenizerGoldens().filter((g) => g.name === 'tok-sentencepiece-zephyr');
  const byteFallback = await Tokenizer.fromDir(zephyr.dir);

  for (const text of ['emoji 🚀🔥 mix 👍🏽', '日本語のテキスト', 'Ωmega ≠ alpha']) {
    it(`byte-fallback tokens of ${JSON.stringify(text)}`, () => {
      const ids = byteFallback.encode(text, { addSpecialTokens: false });
      const byteTokens = ids.filter((id) => /^<0x[0-9A-F]{2}>$/.test(byteFallback.idToToken(id) ?? ''));
      assert.ok(byteTokens.length > 0, 'the text really goes through byte fallback');
      const { deltas, text: streamed } = stream(byteFallback, ids);
      assert.equal(streamed, text);
      for (const delta of deltas)
        assert.ok(!hasPartialCharacter(delta), `partial character in ${JSON.stringify(delta)}`);
      assert.ok(deltas.includes(''), 'some pushes held back an incomplete character');
    });
  }

  it('flush emits an unfinished character the way a full decode shows it', () => {
    const rocketBytes = ['<0xF0>', '<0x9F>'].map((t) => byteFallback.tokenToId(t) as number);
    const detok = new StreamingDetokenizer(byteFallback);
    assert.equal(detok.push(rocketBytes[0]), '');
    assert.equal(detok.push(rocketBytes[1]), '');
    assert.equal(detok.flush(), byteFallback.decode(rocketBytes));
  });
});

describe('streaming after a prompt', async () => {
  const [zephyr] = loadTokenizerGoldens().filter((g) => g.name === 'tok-sentencepiece-zephyr');
  const sentencePiece = await Tokenizer.fromDir(zephyr.dir);
  const chatml = await Tokenizer.fromDir(defaultModelDir);

  it('keeps the SentencePiece word-start space of the first generated token', () => {
    const promptIds = sentencePiece.encode('The capital of France is');
    const allIds = sentencePiece.encode('The capital of France is Paris, of course.');
    assert.deepEqual(allIds.slice(0, promptIds.length), promptIds, 'prompt is a token prefix');
    const generated = allIds.slice(promptIds.length);
    const { text } = stream(sentencePiece, generated, { promptIds });
    assert.equal(text, ' Paris, of course.');
    assert.equal(
      stream(sentencePiece, generated).text,
      'Paris, of course.',
      'without context: no leading space',
    );
  });

  it('streams the bundled model greedy samples to their golden text', () => {
    for (const sample of loadModelSamples()) {
      const { text } = stream(chatml, sample.greedy_ids, {
        promptIds: sample.prompt_ids,
        skipSpecialTokens: true,
      });
      assert.equal(text, sample.greedy_text);
    }
  });
});
