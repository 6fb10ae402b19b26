import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { test } from 'node:test';
import {
  checkAdvertisedScope,
  checkBigPackets,
  checkClockSkew,
  clockReading,
  explainUnreachable,
  hostOf,
  judgeClock,
} from './doctor-network-checks.ts';

test('clock skew: the NTP-style offset of one sample, judged past its uncertainty', () => {
  // Sent at 1000, answered at 1100 (local), server said 4050: server ahead by 4050 - 1050 = 3000 ms, ± 50 + 500.
  const reading = clockReading('etcd', 1000, 1100, 4050, 500);
  assert.deepEqual(reading, { source: 'etcd', skewMs: 3000, uncertaintyMs: 550 });
  assert.equal(judgeClock(reading).status, 'warn');
  assert.match(judgeClock(reading).detail, /ahead of this machine by 3000 ms \(± 550 ms\)/);
  assert.equal(judgeClock(clockReading('nats', 0, 10, -20_000, 1)).status, 'fail');
  assert.match(judgeClock(clockReading('nats', 0, 10, -20_000, 1)).fix ?? '', /chronyc tracking/);
  // Within the Date header's resolution: no verdict of skew.
  assert.equal(judgeClock(clockReading('etcd', 0, 4, 1200, 500)).status, 'ok');
});

test('clock skew reads an HTTP Date header like etcd sends, and agrees with this clock', async () => {
  const server = createServer((_req, res) => res.end('{"etcdserver":"3.5.0"}'));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  try {
    const [result] = await checkClockSkew(`http://127.0.0.1:${port}`, undefined);
    assert.equal(result?.status, 'ok', result?.detail);
    assert.match(result!.detail, /^etcd http:\/\/127\.0\.0\.1:\d+ \(HTTP Date\)/);
  } finally {
    server.close();
  }
  assert.equal((await checkClockSkew(undefined, undefined))[0]?.status, 'skip');
});

test('an unreachable advertised address is explained by what kind of address it is', () => {
  assert.equal(hostOf('[::1]:80'), '::1');
  assert.match(
    explainUnreachable('127.0.0.1:7000', 'ECONNREFUSED', 42),
    /127\.0\.0\.1 is loopback.*--host 10\.77\.0\.3.*pid 42/,
  );
  assert.match(explainUnreachable('0.0.0.0:7000', 'ECONNREFUSED'), /wildcard address nobody can dial/);
  assert.match(
    explainUnreachable('10.77.0.4:7000', 'EHOSTUNREACH'),
    /no route to 10\.77\.0\.4.*ip route get 10\.77\.0\.4/,
  );
  assert.match(
    explainUnreachable('10.77.0.4:7000', 'ECONNREFUSED'),
    /reachable but nothing listens on 10\.77\.0\.4:7000/,
  );
});

test('loopback advertised with a networked etcd is a warning; on one machine it is fine', () => {
  const instances = [
    { instanceId: 'a', transport: { tcp: '127.0.0.1:7000' } },
    { instanceId: 'b', transport: { tcp: '10.77.0.4:7000' } },
  ];
  const warnings = checkAdvertisedScope(instances, 'http://10.77.0.1:2379');
  assert.deepEqual(
    warnings.map((w) => [w.name, w.status]),
    [['advertise a', 'warn']],
  );
  assert.deepEqual(checkAdvertisedScope(instances, 'http://127.0.0.1:2379'), []);
});

test('big packets: a long /metrics that arrives passes; a status port that never answers fails as MTU', async () => {
  const metrics = 'x'.repeat(20_000);
  const server = createServer((req, res) => {
    if (req.url === '/metrics' && req.socket.localPort === port) res.end(metrics);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  // A second server that accepts and never answers: what a path that drops full-size segments looks like.
  const silent = createServer(() => undefined);
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  const silentPort = (silent.address() as { port: number }).port;
  try {
    const [ok, dropped] = await checkBigPackets([
      { instanceId: 'a', transport: { tcp: '127.0.0.1:1' }, systemPort: port },
      { instanceId: 'b', transport: { tcp: '127.0.0.1:1' }, systemPort: silentPort },
    ]);
    assert.equal(ok?.status, 'ok');
    assert.match(ok!.detail, /20000 B of \/metrics arrived/);
    assert.equal(dropped?.status, 'fail');
    assert.match(dropped!.detail, /full-size packets are dropped on the way \(MTU mismatch/);
  } finally {
    server.close();
    silent.closeAllConnections();
    silent.close();
  }
});
