import assert from 'node:assert/strict';
import { createServer, type Socket } from 'node:net';
import { after, before, test } from 'node:test';
import { type EtcdServer, freePort, startEtcd } from '../../infra/local-servers.ts';
import { createDiscovery } from './create-discovery.ts';
import { waitFor } from './discovery.conformance.ts';
import type { Discovery } from './discovery.ts';
import { DiscoveryUnavailableError } from './errors.ts';
import { EtcdDiscovery } from './etcd-discovery.ts';
import { spawnLeaseHolder } from './testing/discovery-kit.ts';

let etcd: EtcdServer;
const clients: Discovery[] = [];
before(async () => {
  etcd = await startEtcd();
});
after(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await etcd.stop();
});

async function connect(ttlSeconds = 10): Promise<Discovery> {
  const client = await EtcdDiscovery.connect({ endpoints: [etcd.endpoint], ttlSeconds });
  clients.push(client);
  return client;
}

test('kill -9 of a process holding a lease: its key is gone within TTL + 2 s, and watchers see the delete', async () => {
  const observer = await connect();
  const key = '/dynamo/v1/instances/test/backend/generate/kill9';
  const ttl = 2;
  const { child, leaseId } = await spawnLeaseHolder('etcd', etcd.endpoint, key, ttl);
  assert.equal(((await observer.get(key)) as { pid: number }).pid, child.pid);
  let deletedAt = 0;
  const watch = await observer.watch(key, (e) => {
    if (e.type === 'delete') deletedAt = Date.now();
  });
  const killedAt = Date.now();
  child.kill('SIGKILL');
  await waitFor('the delete event', () => deletedAt > 0, (ttl + 2) * 1000);
  assert.equal(await observer.get(key), undefined);
  assert.ok(deletedAt - killedAt <= (ttl + 2) * 1000);
  const res = await fetch(`${etcd.endpoint}/v3/lease/timetolive`, {
    method: 'POST',
    body: JSON.stringify({ ID: BigInt(`0x${leaseId}`).toString() }),
  });
  assert.equal(((await res.json()) as { TTL: string }).TTL, '-1', 'the lease itself is gone');
  await watch.close();
});

test('etcd not running at start: a clear error within a few seconds, no hang', async () => {
  const port = await freePort(); // nothing listens here
  const started = Date.now();
  await assert.rejects(
    createDiscovery({ backend: 'etcd', etcdEndpoints: `127.0.0.1:${port}` }),
    (err: Error) =>
      err instanceof DiscoveryUnavailableError &&
      err.message.includes(
        `Cannot reach etcd at http://127.0.0.1:${port}. Is etcd running? Try: \`dhw infra up\``,
      ),
  );
  assert.ok(Date.now() - started < 4000);
});

test('etcd that accepts connections but never answers: the connect deadline bounds the wait', async () => {
  const sockets: Socket[] = [];
  const silent = createServer((socket) => void sockets.push(socket)); // accepts, never replies
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  const { port } = silent.address() as { port: number };
  const started = Date.now();
  try {
    await assert.rejects(
      EtcdDiscovery.connect({ endpoints: [`http://127.0.0.1:${port}`], connectTimeoutMs: 1000 }),
      DiscoveryUnavailableError,
    );
    assert.ok(Date.now() - started < 3000, `took ${Date.now() - started} ms`);
  } finally {
    for (const socket of sockets) socket.destroy();
    silent.close();
  }
});

test('failover: a dead endpoint first in the list is skipped', async () => {
  const dead = `http://127.0.0.1:${await freePort()}`;
  const client = await EtcdDiscovery.connect({ endpoints: [dead, etcd.endpoint] });
  clients.push(client);
  await client.put('/dhw-test/failover', 1);
  assert.equal(await client.get('/dhw-test/failover'), 1);
});

test('etcd restart: the lease survives, a watch resyncs and sees changes made while it was down', async () => {
  const worker = await connect(10);
  const frontend = await connect(10);
  const p = '/dhw-test/restart/';
  await worker.put(`${p}a`, 1);
  const state = new Map<string, unknown>();
  const watch = await frontend.watch(p, (e) =>
    e.type === 'put' ? state.set(e.key, e.value) : state.delete(e.key),
  );
  for (const kv of watch.initial) state.set(kv.key, kv.value);
  let lost = false;
  worker.onLeaseLost(() => {
    lost = true;
  });
  await etcd.restart();
  await worker.put(`${p}b`, 2);
  await worker.delete(`${p}a`);
  await waitFor('the watch to resync', () => state.has(`${p}b`) && !state.has(`${p}a`), 8000);
  assert.ok((await worker.leaseTtlLeft()) > 0);
  assert.equal(lost, false);
  await watch.close();
});

test('etcd down for longer than the TTL: onLeaseLost fires with a message naming etcd', async () => {
  const doomed = await startEtcd();
  try {
    const client = await EtcdDiscovery.connect({ endpoints: [doomed.endpoint], ttlSeconds: 2 });
    clients.push(client);
    const lost = new Promise<Error>((resolve) => client.onLeaseLost(resolve));
    const stoppedAt = Date.now();
    await doomed.stop();
    const keepProcessAlive = setInterval(() => {}, 1000); // discovery timers are unref'd
    const err = await lost.finally(() => clearInterval(keepProcessAlive));
    assert.match(err.message, /no keepalive reached etcd .* Cannot reach etcd at http:\/\/127\.0\.0\.1:\d+/s);
    // Within a few TTLs, not at some long request timeout: 8 s, as stopping etcd and the keepalive timers run
    // late on a loaded box (the lease itself cannot be declared lost before the 2 s TTL).
    assert.ok(Date.now() - stoppedAt < 8000, `lease loss noticed after ${Date.now() - stoppedAt} ms`);
  } finally {
    await doomed.stop();
  }
});
