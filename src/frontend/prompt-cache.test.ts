/**
 * The exact prompt cache: a hit returns what encoding returns (for both tokenizers and both
 * addSpecialTokens values), callers cannot corrupt it by changing the array they got, long texts and a
 * zero-sized cache bypass it, and the least recently used entry is the one evicted.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { Tokenizer } from '../tokens/index.ts';
import { defaultModelDir, repoRoot } from '../util/paths.ts';
import { PromptCache } from './prompt-cache.ts';

const samples = ['the quick brown fox', 'Привет, 世界! <|im_start|>user\nhi<|im_end|>', '', ' leading space'];

for (const dir of [defaultModelDir, join(repoRoot, 'fixtures', 'tok-sentencepiece-zephyr')]) {
  test(`hits equal fresh encodings, per addSpecialTokens (${dir.split('/').pop()})`, async () => {
    const tokenizer = await Tokenizer.fromDir(dir);
    const cache = new PromptCache();
    for (let round = 0; round < 2; round++) {
      for (const text of samples) {
        for (const special of [true, false]) {
          assert.deepEqual(
            cache.encode(tokenizer, text, special),
            tokenizer.encode(text, { addSpecialTokens: special }),
          );
        }
      }
    }
    assert.equal(cache.misses, samples.length * 2);
    assert.equal(cache.hits, samples.length * 2);
  });
}

test('a caller changing its ids does not change the next hit; long texts and maxEntries 0 bypass', async () => {
  const tokenizer = await Tokenizer.fromDir(defaultModelDir);
  const cache = new PromptCache({ maxTextChars: 32 });
  const first = cache.encode(tokenizer, 'the quick brown fox', true);
  const expected = [...first];
  first.push(99);
  first[0] = -1;
  assert.deepEqual(cache.encode(tokenizer, 'the quick brown fox', true), expected);
  const long = 'a very long prompt that is over the limit';
  cache.encode(tokenizer, long, true);
  cache.encode(tokenizer, long, true);
  assert.deepEqual({ hits: cache.hits, misses: cache.misses }, { hits: 1, misses: 1 });
  const off = new PromptCache({ maxEntries: 0 });
  off.encode(tokenizer, 'x', true);
  off.encode(tokenizer, 'x', true);
  assert.deepEqual({ hits: off.hits, misses: off.misses }, { hits: 0, misses: 0 });
});

test('past maxEntries the least recently used text is evicted', async () => {
  const tokenizer = await Tokenizer.fromDir(defaultModelDir);
  const cache = new PromptCache({ maxEntries: 2 });
  cache.encode(tokenizer, 'a', true);
  cache.encode(tokenizer, 'b', true);
  cache.encode(tokenizer, 'a', true); // a is now the most recent
  cache.encode(tokenizer, 'c', true); // evicts b
  assert.equal(cache.misses, 3);
  cache.encode(tokenizer, 'a', true);
  assert.equal(cache.hits, 2, 'a stayed');
  cache.encode(tokenizer, 'b', true);
  assert.equal(cache.misses, 4, 'b was evicted');
});
