import assert from 'node:assert/strict';
import { statfsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { test } from 'node:test';
import { ClusterSecret } from '../util/cluster-secret.ts';
import { shmOfferVerdict, transportsFor } from './kv-transfer-part.ts';

const dir = tmpdir();
const free = (() => {
  const s = statfsSync(dir);
  return s.bavail * s.bsize;
})();

test('--kv-transfer shm adds shm only with tensors, without a cluster secret, and when the mirror fits', () => {
  assert.deepEqual(shmOfferVerdict(1 << 20, undefined, dir), { offer: true });
  const tooBig = shmOfferVerdict(free * 2 + 2 ** 30, undefined, dir);
  assert.equal(tooBig.offer, false);
  assert.match(tooBig.why ?? '', /MiB free, a mirror of the KV pool may need \d+ MiB \(docker: --shm-size\)/);
  assert.match(shmOfferVerdict(undefined, undefined, dir).why ?? '', /mocker/);
  const secret = ClusterSecret.fromBytes('s'.repeat(32));
  assert.match(shmOfferVerdict(1 << 20, secret, dir).why ?? '', /cluster secret/);
  assert.match(shmOfferVerdict(1, undefined, '/no/such/dir').why ?? '', /does not exist/);
});

test('transports per mode: auto is tcp + unix; shm adds shm last when offered; shm with a secret is refused', () => {
  const kinds = (mode: 'auto' | 'shm', offerShm: boolean) =>
    transportsFor(mode, 'prefill', '127.0.0.1', '127.0.0.1', undefined, offerShm).map((t) => t.kind);
  assert.deepEqual(kinds('auto', true), ['tcp', 'unix']);
  assert.deepEqual(kinds('shm', true), ['tcp', 'unix', 'shm']);
  assert.deepEqual(kinds('shm', false), ['tcp', 'unix']);
  assert.deepEqual(
    transportsFor('auto', 'aggregated', '127.0.0.1', '127.0.0.1', undefined, true).map((t) => t.kind),
    [],
  );
  assert.deepEqual(
    transportsFor('shm', 'decode', '127.0.0.1', '127.0.0.1').map((t) => t.kind),
    ['tcp', 'unix', 'shm'],
  );
  const secret = ClusterSecret.fromBytes('s'.repeat(32));
  assert.throws(
    () => transportsFor('shm', 'decode', '127.0.0.1', '127.0.0.1', secret),
    /--kv-transfer shm cannot check a cluster secret.*use --kv-transfer unix or auto/,
  );
});
