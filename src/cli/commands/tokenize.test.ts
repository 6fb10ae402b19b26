/**
 * `dhw tokenize` and ids-only `dhw generate`, as processes:
 *   - tokenize prints the tokenizer's ids and pieces, and with --chat the template render it encoded;
 *   - `dhw generate DIR --token-ids ...` runs a checkpoint that ships no tokenizer files (ids in, ids out),
 *     and the same greedy ids as with the tokenizer present; a text prompt there names the fix.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { Tokenizer } from '../../tokens/index.ts';
import { defaultModelDir, repoRoot } from '../../util/paths.ts';

const dir = mkdtempSync(join(tmpdir(), 'dhw-no-tokenizer-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function dhw(args: string[]) {
  return spawnSync(process.execPath, [join(repoRoot, 'bin', 'dhw.mjs'), ...args], {
    encoding: 'utf8',
    timeout: 120_000,
  });
}

test('tokenize: ids and pieces as the tokenizer makes them; --chat shows the render it encoded', async () => {
  const tokenizer = await Tokenizer.fromDir(defaultModelDir);
  const plain = dhw(['tokenize', 'The moon is bright tonight', '--json']);
  assert.equal(plain.status, 0, plain.stderr);
  const out = JSON.parse(plain.stdout) as { ids: number[]; pieces: string[]; count: number };
  assert.deepEqual(out.ids, tokenizer.encode('The moon is bright tonight'));
  assert.deepEqual(
    out.pieces,
    out.ids.map((id) => tokenizer.idToToken(id)),
  );
  assert.equal(out.count, out.ids.length);
  const chat = dhw(['tokenize', defaultModelDir, 'Hi there', '--chat', '--json']);
  const rendered = JSON.parse(chat.stdout) as { rendered: string; ids: number[] };
  assert.equal(
    rendered.rendered,
    tokenizer.applyChatTemplate([{ role: 'user', content: 'Hi there' }], { addGenerationPrompt: true }),
  );
  assert.deepEqual(rendered.ids, tokenizer.encode(rendered.rendered, { addSpecialTokens: false }));
  const table = dhw(['tokenize', 'Hi there']);
  assert.match(table.stdout, /^\d+ tokens: \[/);
});

test('generate --token-ids runs a checkpoint without tokenizer files, same greedy ids', () => {
  for (const f of ['config.json', 'generation_config.json', 'model.safetensors'])
    copyFileSync(join(defaultModelDir, f), join(dir, f));
  const ids = ['--token-ids', '1,42,338,81,731', '--max-tokens', '6', '--temperature', '0', '--json'];
  const bare = dhw(['generate', dir, ...ids]);
  assert.equal(bare.status, 0, bare.stderr);
  const withTokenizer = dhw(['generate', defaultModelDir, ...ids]);
  const a = JSON.parse(bare.stdout.trim().split('\n').at(-1)!) as Record<string, unknown>;
  const b = JSON.parse(withTokenizer.stdout.trim().split('\n').at(-1)!) as Record<string, unknown>;
  assert.deepEqual(a.token_ids, b.token_ids);
  assert.equal(a.text, undefined, 'no tokenizer: no text field');
  assert.equal(typeof b.text, 'string');
  const text = dhw(['generate', dir, 'hello']);
  assert.equal(text.status, 1);
  assert.match(text.stderr, /tokenizer\.json not found/);
});

test('the --trace KV column counts the partial last block and the bytes of whole blocks', async () => {
  const { describeKv } = await import('./generate.ts');
  assert.equal(describeKv(7, 16, 1024), 'KV 7 tokens in 1 block (7/16 slots used) = 1.00 KiB allocated');
  assert.equal(describeKv(32, 16, 1024), 'KV 32 tokens in 2 blocks = 2.00 KiB allocated');
  assert.equal(
    describeKv(33, 16, 1024),
    'KV 33 tokens in 3 blocks (2 full + 1 with 1/16 slots) = 3.00 KiB allocated',
  );
});
