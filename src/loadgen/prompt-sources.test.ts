/** Prompt sources: lengths, shared prefixes, trace blocks, and exact lengths with a real tokenizer. */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Tokenizer } from '../tokens/index.ts';
import { defaultModelDir } from '../util/paths.ts';
import { jsonlPrompts, syntheticPrompts, tracePrompts } from './prompt-sources.ts';
import { arrivalTimes } from './run-bench.ts';

const base = { numPrompts: 20, inputLen: 64, outputLen: 8, prefixLen: 0, rangeRatio: 0, seed: 3 };

test('synthetic prompts: seeded, distinct, sharing exactly the requested prefix', () => {
  const a = syntheticPrompts({ ...base, prefixLen: 32 });
  assert.deepEqual(a, syntheticPrompts({ ...base, prefixLen: 32 }), 'same seed, same prompts');
  assert.equal(new Set(a.map((p) => p.prompt)).size, 20);
  const prefix = a[0]!.prompt.slice(0, a[0]!.prompt.indexOf('0.'));
  assert.ok(prefix.split(' ').length > 30, 'a ~32-word shared prefix');
  for (const p of a) assert.ok(p.prompt.startsWith(prefix));
  assert.ok(a.every((p) => p.outputTokens === 8 && p.estimatedInputTokens === 96));
  const ranged = syntheticPrompts({ ...base, rangeRatio: 0.5 });
  assert.ok(ranged.every((p) => p.estimatedInputTokens >= 32 && p.estimatedInputTokens <= 96));
  assert.ok(new Set(ranged.map((p) => p.outputTokens)).size > 1);
});

test('with a tokenizer, synthetic prompts are the requested number of its tokens', async () => {
  const tokenizer = await Tokenizer.fromDir(defaultModelDir);
  const count = (text: string) => tokenizer.encode(text, { addSpecialTokens: false }).length;
  const prompts = syntheticPrompts({ ...base, numPrompts: 5, inputLen: 200 }, count);
  const lengths = prompts.map((p) => count(p.prompt));
  for (const n of lengths) assert.ok(Math.abs(n - 200) <= 2, `prompt of ${n} tokens, wanted 200`);
});

test('trace prompts: equal hash ids give equal text, timestamps scale, lengths cut', () => {
  const dir = mkdtempSync(join(tmpdir(), 'dhw-loadgen-'));
  try {
    const file = join(dir, 'trace.jsonl');
    writeFileSync(
      file,
      [
        { timestamp: 1000, input_length: 20, output_length: 5, hash_ids: [1, 2] },
        { timestamp: 3000, input_length: 15, output_length: 7, hash_ids: [1, 3] },
      ]
        .map((r) => JSON.stringify(r))
        .join('\n'),
    );
    const [a, b] = tracePrompts(file, { timeScale: 0.5, traceBlockSize: 10 });
    assert.equal(a!.atMs, 0);
    assert.equal(b!.atMs, 1000);
    const first = (p: string) => p.split(' ').slice(0, 11).join(' ');
    assert.equal(first(a!.prompt), first(b!.prompt), 'block 1 is the same text in both');
    assert.notEqual(a!.prompt, b!.prompt);
    assert.equal(a!.prompt.split(' ').length - 1, 20);
    assert.equal(b!.prompt.split(' ').length - 1, 15);
    assert.deepEqual([a!.outputTokens, b!.outputTokens], [5, 7]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('JSONL prompts: objects or strings; a bad line is named', () => {
  const dir = mkdtempSync(join(tmpdir(), 'dhw-loadgen-'));
  try {
    const good = join(dir, 'p.jsonl');
    writeFileSync(good, '{"prompt": "hello there", "output_len": 3}\n"just text"\n');
    const prompts = jsonlPrompts(good, 9);
    assert.deepEqual(
      prompts.map((p) => [p.prompt, p.outputTokens]),
      [
        ['hello there', 3],
        ['just text', 9],
      ],
    );
    const bad = join(dir, 'bad.jsonl');
    writeFileSync(bad, '{"prompt": "ok"}\n{"text": 1}\n');
    assert.throws(() => jsonlPrompts(bad, 9), /bad\.jsonl:2: needs a string "prompt"/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('open-loop arrivals: constant gaps exact, Poisson gaps average 1/rate', () => {
  assert.deepEqual(
    arrivalTimes(4, { requestRate: 10, arrival: 'constant', concurrency: Infinity, seed: 0 }),
    [0, 100, 200, 300],
  );
  const t = arrivalTimes(4001, { requestRate: 20, arrival: 'poisson', concurrency: Infinity, seed: 1 })!;
  const meanGap = t.at(-1)! / 4000;
  assert.ok(Math.abs(meanGap - 50) < 2.5, `mean gap ${meanGap} ms`);
  assert.equal(
    arrivalTimes(3, { requestRate: Infinity, arrival: 'poisson', concurrency: 4, seed: 0 }),
    undefined,
  );
});
