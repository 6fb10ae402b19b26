/**
 * The exact prompt cache: a hit returns what encoding returns (for both tokenizers and both
 * addSpecialTokens values), callers cannot corrupt it by changing the array they got, long texts and a
 * zero-sized cache bypass it, and the least recently used entry is the one evicted. A repeated prompt's
 * block hashes are reused only for an unchanged copy and the same block size (prompt-hashes.ts).
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { computeBlockHashes } from '../tokens/block-hash.ts';
import { Tokenizer } from '../tokens/index.ts';
import { defaultModelDir, repoRoot } from '../util/paths.ts';
import { PromptCache } from './prompt-cache.ts';
import { knownBlockHashes } from './prompt-hashes.ts';
import { RequestBlockHashes } from './request-block-hashes.ts';

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

test('a repeated prompt reuses its block hashes; a changed copy or another block size is hashed afresh', async () => {
  const tokenizer = await Tokenizer.fromDir(defaultModelDir);
  const cache = new PromptCache();
  const text = 'the quick brown fox jumps over a lazy dog while seven tired cats watch '.repeat(4);
  const first = cache.encode(tokenizer, text, true);
  assert.ok(first.length >= 32, 'the prompt spans at least two 16-token blocks');
  assert.equal(knownBlockHashes(first, 16), undefined, 'nothing known before a request hashed them');
  const fresh = computeBlockHashes(first, 16).sequence;
  assert.deepEqual(new RequestBlockHashes(16).of(first), fresh);

  const again = cache.encode(tokenizer, text, true);
  assert.deepEqual(
    knownBlockHashes(again, 16)?.sequence,
    fresh,
    'the repeat finds the first request’s hashes',
  );
  assert.deepEqual(new RequestBlockHashes(16).of(again), fresh);
  assert.equal(knownBlockHashes(again, 4), undefined, 'kept for one block size only');
  assert.deepEqual(new RequestBlockHashes(4).of(again), computeBlockHashes(again, 4).sequence);

  const changed = cache.encode(tokenizer, text, true);
  changed[0] = changed[0]! + 1;
  assert.equal(knownBlockHashes(changed, 16), undefined, 'a caller’s edited copy misses');
  assert.deepEqual(new RequestBlockHashes(16).of(changed), computeBlockHashes(changed, 16).sequence);
  assert.equal(knownBlockHashes([...first], 16), undefined, 'an array the cache did not hand out misses');

  // A migration extends the request's token list: the chain continues past the cached prompt's blocks.
  const migrated = cache.encode(tokenizer, text, true);
  const hashes = new RequestBlockHashes(16);
  hashes.of(migrated);
  const longer = [...migrated, ...Array.from({ length: 16 }, (_, i) => 100 + i)];
  assert.deepEqual(hashes.of(longer), computeBlockHashes(longer, 16).sequence);
});
