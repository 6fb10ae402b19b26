import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { loadTokenizerGoldens } from './golden.ts';
import { Tokenizer } from './tokenizer.ts';
import type { JsonObject } from './tokenizer-files.ts';

/**
 * The zephyr fixture spells SentencePiece as normalizer (Prepend ▁, Replace ' '→▁) + Split(▁, MergedWithNext).
 * Older files spell the same thing as a Metaspace pre-tokenizer, or wrap the Split in a Sequence. Built from the
 * same vocab, those variants must encode the golden texts identically (texts not starting with a space, where
 * the spellings agree), which checks that our replacements are wired in at every position.
 */
describe('library fixes reach every pre-tokenizer position', () => {
  const [zephyr] = loadTokenizerGoldens().filter((g) => g.name === 'tok-sentencepiece-zephyr');
  const tokenizerJson = JSON.parse(readFileSync(join(zephyr.dir, 'tokenizer.json'), 'utf8')) as JsonObject;
  const tokenizerConfig = JSON.parse(
    readFileSync(join(zephyr.dir, 'tokenizer_config.json'), 'utf8'),
  ) as JsonObject;
  const entries = zephyr.encode.filter((e) => !/^\s/.test(e.text));

  function variant(overrides: JsonObject): Tokenizer {
    return Tokenizer.fromFiles({
      dir: zephyr.dir,
      tokenizerJson: { ...tokenizerJson, ...overrides },
      tokenizerConfig,
      chatTemplate: { kind: 'none', reason: 'test' },
    });
  }

  const variants: Record<string, JsonObject> = {
    'Split inside a Sequence': {
      pre_tokenizer: { type: 'Sequence', pretokenizers: [tokenizerJson.pre_tokenizer] },
    },
    'Metaspace (always, split)': {
      normalizer: null,
      pre_tokenizer: { type: 'Metaspace', replacement: '▁', prepend_scheme: 'always', split: true },
    },
  };

  for (const [name, overrides] of Object.entries(variants)) {
    it(name, () => {
      const tokenizer = variant(overrides);
      assert.ok(entries.length > 10);
      for (const entry of entries) {
        assert.deepEqual(tokenizer.encode(entry.text), entry.ids, JSON.stringify(entry.text));
        assert.equal(tokenizer.decode(entry.ids_no_special), entry.decoded);
      }
    });
  }
});
