import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { isBucketName } from '../../protocols/discovery.ts';
import { defaultModelDir } from '../../util/paths.ts';
import { cardBucketName, cardChecksum, describeBytes, readCardFiles, sha256Checksum } from './card-files.ts';
import { CardFilesError } from './errors.ts';
import { natsDigestToChecksum } from './nats-card-store.ts';

test('bucket names: a valid model name is its own slug; others get a hash so they cannot collide', () => {
  assert.equal(cardBucketName('fortune-llama'), 'fortune-llama');
  const slashed = cardBucketName('Org/Model.v2');
  assert.match(slashed, /^org_model_v2_[0-9a-f]{8}$/);
  assert.notEqual(slashed, cardBucketName('org_model_v2'));
  assert.ok(isBucketName(slashed));
});

test('sha256 checksums and the card checksum (file order does not matter, content does)', () => {
  assert.equal(
    sha256Checksum(Buffer.from('abc')),
    'sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',
  );
  const a = describeBytes('tokenizer.json', Buffer.from('{"model":{}}'));
  const b = describeBytes('tokenizer_config.json', Buffer.from('{}'));
  const b2 = describeBytes('tokenizer_config.json', Buffer.from('{ }'));
  assert.equal(cardChecksum('m', [a, b]), cardChecksum('m', [b, a]));
  assert.notEqual(cardChecksum('m', [a, b]), cardChecksum('m', [a, b2]));
  assert.notEqual(cardChecksum('m', [a, b]), cardChecksum('other', [a, b]));
});

test("NATS's object digest (SHA-256=base64url) maps to the card's sha256:hex", () => {
  const bytes = Buffer.from('abc');
  const digest = `SHA-256=${Buffer.from(sha256Checksum(bytes).slice(7), 'hex').toString('base64url')}=`;
  assert.equal(natsDigestToChecksum(digest), sha256Checksum(bytes));
  assert.equal(natsDigestToChecksum('MD5=abc'), undefined);
});

test('readCardFiles: the bundled model has four card files; a folder without tokenizer.json is an error', async () => {
  const files = await readCardFiles(defaultModelDir);
  assert.deepEqual(files.map((f) => f.name).sort(), [
    'chat_template.jinja',
    'generation_config.json',
    'tokenizer.json',
    'tokenizer_config.json',
  ]);
  for (const f of files) assert.equal(f.size, f.bytes.byteLength);
  const empty = await mkdtemp(join(tmpdir(), 'dhw-card-files-'));
  try {
    await assert.rejects(readCardFiles(empty), (err: Error) => {
      assert.ok(err instanceof CardFilesError);
      assert.match(err.message, /tokenizer\.json not found/);
      return true;
    });
  } finally {
    await rm(empty, { recursive: true });
  }
});
