/**
 * Prompt sizing and off-thread tokenizing: a tokenizer thread gives the same ids as the main thread, a
 * prompt provably longer than the context is refused before tokenizing, and one whose tokenizer may
 * delete text gets no bound (it may still fit).
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { Tokenizer } from '../tokens/index.ts';
import { InvalidRequestError } from '../util/errors.ts';
import { defaultModelDir, repoRoot } from '../util/paths.ts';
import { checkPromptBytes, maxBytesPerToken } from './prompt-bound.ts';
import { TokenizePool } from './tokenize-pool.ts';

const pool = new TokenizePool(1);
after(() => pool.close());

const text = (n: number): string =>
  Array.from(
    { length: n },
    (_, i) => `Sentence ${i}: the fox jumps over ${i % 7} lazy dogs. Привет, 世界!`,
  ).join('\n');

for (const dir of [defaultModelDir, join(repoRoot, 'fixtures', 'tok-sentencepiece-zephyr')]) {
  test(`a tokenizer thread encodes exactly as the main thread (${dir.split('/').pop()})`, async () => {
    const tokenizer = await Tokenizer.fromDir(dir);
    for (const [sample, special] of [
      [text(400), true],
      [text(3), false],
      ['', true],
    ] as const) {
      assert.deepEqual(
        await pool.encode(tokenizer, sample, special),
        tokenizer.encode(sample, { addSpecialTokens: special }),
      );
    }
  });
}

test('many jobs for two models at once come back to the right callers', async () => {
  const a = await Tokenizer.fromDir(defaultModelDir);
  const b = await Tokenizer.fromDir(join(repoRoot, 'fixtures', 'tok-sentencepiece-zephyr'));
  const jobs = Array.from({ length: 20 }, (_, i) => ({ tokenizer: i % 2 ? a : b, sample: text(i + 1) }));
  const ids = await Promise.all(jobs.map((j) => pool.encode(j.tokenizer, j.sample, true)));
  ids.forEach((got, i) => {
    assert.deepEqual(got, jobs[i].tokenizer.encode(jobs[i].sample));
  });
});

test('the byte bound: refuses only prompts that cannot fit, and every refused one truly does not', async () => {
  const tokenizer = await Tokenizer.fromDir(defaultModelDir);
  const perToken = maxBytesPerToken(tokenizer);
  assert.ok(perToken !== undefined && perToken > 1);
  const context = 1024;
  const long = 'x'.repeat(perToken * context);
  assert.throws(
    () => checkPromptBytes(tokenizer, Buffer.byteLength(long), context, 'prompt'),
    (err: unknown) => err instanceof InvalidRequestError && err.code === 'context_length_exceeded',
  );
  // The bound is sound: the refused text really is at least the context long.
  assert.ok(tokenizer.encode(long).length >= context);
  // A prompt that may fit passes to the tokenizer.
  checkPromptBytes(tokenizer, perToken * context - 1, context, 'prompt');
});

test('a tokenizer that may delete text (BERT-style whitespace split) gets no bound', async () => {
  const files = (await Tokenizer.fromDir(defaultModelDir)).files;
  const bert = Tokenizer.fromFiles({
    ...files,
    tokenizerJson: { ...files.tokenizerJson, pre_tokenizer: { type: 'WhitespaceSplit' } },
  });
  assert.equal(maxBytesPerToken(bert), undefined);
  checkPromptBytes(bert, 10_000_000, 16, 'prompt');
});
