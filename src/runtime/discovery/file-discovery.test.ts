import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { waitFor } from './discovery.conformance.ts';
import type { Discovery } from './discovery.ts';
import { FileDiscovery } from './file-discovery.ts';
import { spawnLeaseHolder } from './testing/discovery-kit.ts';

let dir: string;
const clients: Discovery[] = [];
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dhw-file-discovery-'));
});
after(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await rm(dir, { recursive: true, force: true });
});

async function open(): Promise<Discovery> {
  const client = await FileDiscovery.open({ dir, pollIntervalMs: 50 });
  clients.push(client);
  return client;
}

test('two processes: a key written by another process is listed and watched; kill -9 removes it within TTL + 2 s', async () => {
  const observer = await open();
  const key = '/dynamo/v1/instances/test/backend/generate/file-proc';
  const ttl = 2;
  const { child, leaseId } = await spawnLeaseHolder('file', dir, key, ttl);
  assert.deepEqual(await observer.list('/dynamo/'), [{ key, value: { pid: child.pid } }]);
  let deletedAt = 0;
  const watch = await observer.watch('/dynamo/', (e) => {
    if (e.type === 'delete' && e.key === key) deletedAt = Date.now();
  });
  assert.equal(watch.initial.length, 1);
  // The child keeps its lease alive across several TTLs.
  await new Promise((r) => setTimeout(r, ttl * 1000 + 500));
  assert.equal((await observer.list('/dynamo/')).length, 1, 'a live process keeps its key past the TTL');
  const killedAt = Date.now();
  child.kill('SIGKILL');
  await waitFor('the delete event', () => deletedAt > 0, (ttl + 2) * 1000);
  assert.ok(deletedAt - killedAt <= (ttl + 2) * 1000);
  // The dead process's files are reaped by the reader.
  assert.ok(!(await readdir(join(dir, 'leases'))).includes(leaseId));
  assert.deepEqual(await observer.list('/dynamo/'), []);
  await watch.close();
});

test('a process that keeps its lease sees its keys survive while another process watches', async () => {
  const a = await open();
  const b = await open();
  await a.put('/dhw-test/a', 'x');
  assert.equal(await b.get('/dhw-test/a'), 'x');
  assert.ok((await a.leaseTtlLeft()) > 9);
});
