import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  clusterStatus,
  clusterUnavailableReason,
  downCluster,
  fetchInNode,
  runInNode,
  setNodeLink,
  startDelayProxy,
  tcpProbeInNode,
  upCluster,
} from './index.ts';
import { listNamespaces } from './topology.ts';

const unavailable = await clusterUnavailableReason();

test('cluster up builds shaped nodes with etcd/NATS in node 0; run, link down/up, status and down work', {
  skip: unavailable && `needs root: ${unavailable}`,
  timeout: 60_000,
}, async () => {
  const stateRoot = await mkdtemp(join(tmpdir(), 'dhw-cluster-'));
  const name = `dhw-c${process.pid}`;
  try {
    const state = await upCluster({ name, stateRoot, nodes: 3, link: '200mbit,1ms' });
    assert.deepEqual(state.addresses, ['10.77.0.1', '10.77.0.2', '10.77.0.3']);
    assert.equal(state.etcd?.endpoint, 'http://10.77.0.1:2379');

    const status = await clusterStatus({ name, stateRoot });
    assert.deepEqual(
      status.links.map((l) => [l.address, l.operState, l.qdisc.split(' ').slice(0, 3).join(' ')]),
      state.addresses.map((a) => [a, 'UP', 'tbf rate 200Mbit']),
    );
    assert.deepEqual(
      status.servers.map((s) => [s.name, s.healthy]),
      [
        ['etcd', true],
        ['nats-server', true],
      ],
    );

    // Node 2 reaches etcd in node 0 over the bridge; the command sees the cluster's ETCD_ENDPOINTS.
    const health = await fetchInNode(name, 2, `${state.etcd?.endpoint}/health`);
    assert.equal(health.status, 200);
    const child = runInNode(state, 2, ['sh', '-c', 'echo "$ETCD_ENDPOINTS"'], { stdio: 'pipe' });
    let out = '';
    child.stdout?.on('data', (chunk) => {
      out += chunk;
    });
    await new Promise((resolve) => child.on('exit', resolve));
    assert.equal(out.trim(), state.etcd?.endpoint);

    // The host is not on the cluster's subnet: a node has no route out of its namespace.
    assert.equal(await tcpProbeInNode(name, 1, '192.0.2.1', 80, 1000), 'ENETUNREACH');

    await setNodeLink(name, 2, 'down');
    assert.notEqual(await tcpProbeInNode(name, 2, '10.77.0.1', 2379, 1000), 'ok');
    assert.equal(await tcpProbeInNode(name, 1, '10.77.0.1', 2379, 1000), 'ok');
    await setNodeLink(name, 2, 'up');
    assert.equal(await tcpProbeInNode(name, 2, '10.77.0.1', 2379, 3000), 'ok');

    const down = await downCluster({ name, stateRoot });
    assert.equal(down.namespaces.length, 4);
    assert.ok(down.stopped.includes(state.etcd?.pid ?? -1));
    assert.deepEqual(
      (await listNamespaces()).filter((ns) => ns.startsWith(`${name}-`)),
      [],
    );
    assert.deepEqual((await downCluster({ name, stateRoot })).namespaces, []);
  } finally {
    await downCluster({ name, stateRoot }).catch(() => undefined);
    await rm(stateRoot, { recursive: true, force: true });
  }
});

test('cluster names outside the dhw prefix are refused before anything is created', async () => {
  await assert.rejects(upCluster({ name: 'prod', nodes: 1 }), /cluster name "prod" is not allowed/);
  await assert.rejects(upCluster({ name: 'dhw', nodes: 0 }), /--nodes must be an integer from 1/);
});

test('the delay proxy relays bytes intact and adds its delay in each direction', async () => {
  const echo = createServer((socket) => socket.pipe(socket));
  await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', resolve));
  const echoPort = (echo.address() as { port: number }).port;
  const delayMs = 40;
  const proxy = await startDelayProxy({
    listenHost: '127.0.0.1',
    listenPort: 0,
    targetHost: '127.0.0.1',
    targetPort: echoPort,
    delayMs,
  });
  try {
    const payload = Buffer.alloc(3 * 1024 * 1024, 0);
    for (let i = 0; i < payload.length; i++) payload[i] = (i * 31) & 0xff;
    const socket = connect({ host: '127.0.0.1', port: proxy.port });
    const started = Date.now();
    const received: Buffer[] = [];
    let firstByteMs = -1;
    let total = 0;
    await new Promise<void>((resolve, reject) => {
      socket.on('error', reject);
      socket.on('data', (chunk: Buffer) => {
        if (firstByteMs < 0) firstByteMs = Date.now() - started;
        received.push(chunk);
        total += chunk.length;
        if (total >= payload.length) resolve();
      });
      socket.write(payload);
    });
    socket.destroy();
    assert.ok(Buffer.concat(received).equals(payload), 'the bytes came back unchanged and in order');
    // A lower bound, not a timing: the first byte cannot return before both one-way delays were served.
    assert.ok(
      firstByteMs >= 2 * delayMs,
      `first byte back after ${firstByteMs} ms, expected ≥ ${2 * delayMs}`,
    );
  } finally {
    await proxy.close();
    echo.close();
  }
});
