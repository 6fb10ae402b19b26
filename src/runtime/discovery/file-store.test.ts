import assert from 'node:assert/strict';
import { mkdtemp, rm, utimes } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { InstanceId } from '../../protocols/discovery.ts';
import { FileStore } from './file-store.ts';

// Two stores on one directory stand for two processes: the reader's cache of key files and lease TTLs
// must still see every rewrite, removal and expiry the writer makes.
let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dhw-file-store-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function stores(name: string): Promise<{ writer: FileStore; reader: FileStore }> {
  const writer = new FileStore(join(dir, name));
  await writer.init();
  return { writer, reader: new FileStore(join(dir, name)) };
}

test('a cached key file: a rewrite is read again (new version and value), a removed key leaves the scan', async () => {
  const { writer, reader } = await stores('rewrite');
  const lease = 'aaaa000000000001' as InstanceId;
  await writer.createLease(lease, 30);
  await writer.writeKey('/p/one', '{"n":1}', lease);
  await writer.writeKey('/p/two', '{"n":2}', lease);
  const first = await reader.scan('/p/');
  assert.deepEqual(first.get('/p/one')?.value, { n: 1 });
  const again = await reader.scan('/p/');
  assert.equal(again.get('/p/one')?.version, first.get('/p/one')?.version, 'unchanged file, same version');

  await writer.writeKey('/p/one', '{"n":10}', lease);
  const rewritten = await reader.scan('/p/');
  assert.deepEqual(rewritten.get('/p/one')?.value, { n: 10 });
  assert.notEqual(rewritten.get('/p/one')?.version, first.get('/p/one')?.version);

  await writer.removeKey('/p/two');
  const removed = await reader.scan('/p/');
  assert.deepEqual([...removed.keys()], ['/p/one']);
});

test('a cached lease TTL: an expired lease (mtime older than its TTL) still removes its keys', async () => {
  const { writer, reader } = await stores('expiry');
  const lease = 'bbbb000000000002' as InstanceId;
  await writer.createLease(lease, 5);
  await writer.writeKey('/q/k', '"v"', lease);
  assert.equal((await reader.scan('/q/')).size, 1, 'live lease: key listed (TTL now cached)');
  assert.ok((await reader.leaseTtlLeft(lease)) > 4);

  const longAgo = new Date(Date.now() - 60_000);
  await utimes(writer.leasePath(lease), longAgo, longAgo);
  assert.equal((await reader.scan('/q/')).size, 0, 'expired lease: key dropped');
  assert.equal(await reader.leaseTtlLeft(lease), -1);
  assert.equal((await writer.scan('/q/')).size, 0, 'the key file was removed for every reader');
});
