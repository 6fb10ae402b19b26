import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { isProcessAlive, processStartTicks } from '../util/process-alive.ts';
import { freePort } from './free-port.ts';
import { startEtcd, startNats } from './local-servers.ts';
import { infraDown, infraEnvLines, infraStatus, infraUp } from './local-stack.ts';
import { stopPid } from './server-process.ts';

test('infra up starts detached etcd + NATS, is idempotent, status probes them, down stops them', async () => {
  const dir = join(await mkdtemp(join(tmpdir(), 'dhw-infra-')), '.dhw');
  const ports = {
    etcdPort: await freePort(),
    etcdPeerPort: await freePort(),
    natsPort: await freePort(),
    natsMonitorPort: await freePort(),
  };
  try {
    assert.deepEqual(
      (await infraStatus(dir)).servers.map((s) => s.up),
      [false, false],
    );
    const { record, alreadyRunning } = await infraUp(dir, { ports });
    assert.equal(alreadyRunning, false);
    assert.equal(record.etcd.endpoint, `http://127.0.0.1:${ports.etcdPort}`);
    assert.equal(record.nats.url, `nats://127.0.0.1:${ports.natsPort}`);
    assert.equal(
      infraEnvLines(record),
      `export ETCD_ENDPOINTS=http://127.0.0.1:${ports.etcdPort} NATS_SERVER=nats://127.0.0.1:${ports.natsPort}`,
    );
    assert.ok(existsSync(join(dir, 'infra.json')) && existsSync(join(dir, 'etcd', 'member')));
    const again = await infraUp(dir, { ports });
    assert.equal(again.alreadyRunning, true);
    assert.equal(again.record.etcd.pid, record.etcd.pid);
    assert.deepEqual(
      (await infraStatus(dir)).servers.map((s) => s.up),
      [true, true],
    );
    const stopped = await infraDown(dir);
    assert.equal(stopped.length, 2);
    assert.equal(isProcessAlive(record.etcd.pid!), false);
    assert.equal(isProcessAlive(record.nats.pid!), false);
    assert.equal(existsSync(join(dir, 'infra.json')), false);
    assert.ok(existsSync(join(dir, 'etcd')), 'data is kept without --purge');
  } finally {
    await infraDown(dir, { purge: true });
    await rm(join(dir, '..'), { recursive: true, force: true });
  }
});

test('infra up leaves a healthy etcd it did not start alone, and restarts only the server that died', async () => {
  const dir = join(await mkdtemp(join(tmpdir(), 'dhw-infra-')), '.dhw');
  const ports = {
    etcdPort: await freePort(),
    etcdPeerPort: await freePort(),
    natsPort: await freePort(),
    natsMonitorPort: await freePort(),
  };
  const foreign = await startEtcd({ port: ports.etcdPort, peerPort: ports.etcdPeerPort });
  try {
    const status = await infraStatus(dir, { ports });
    assert.deepEqual(
      status.servers.map((s) => [s.name, s.up, s.managed]),
      [
        ['etcd', true, false],
        ['nats-server', false, false],
      ],
    );
    assert.match(status.servers[0]!.detail, /not started by dhw/);
    const up = await infraUp(dir, { ports });
    assert.deepEqual(up.started, ['nats-server']);
    assert.equal(up.record.etcd.pid, null, 'the foreign etcd is recorded as not ours');
    assert.equal(up.record.etcd.endpoint, foreign.endpoint);
    assert.ok(isProcessAlive(foreign.pid));

    // NATS (ours) dies while etcd stays healthy: only NATS is started again.
    await stopPid(up.record.nats.pid!);
    const again = await infraUp(dir, { ports });
    assert.deepEqual(again.started, ['nats-server']);
    assert.notEqual(again.record.nats.pid, up.record.nats.pid);
    assert.ok(isProcessAlive(foreign.pid), 'the healthy etcd was left alone');
    assert.deepEqual(
      (await infraStatus(dir)).servers.map((s) => s.up),
      [true, true],
    );

    const stopped = await infraDown(dir);
    assert.deepEqual(
      stopped,
      [`nats-server (pid ${again.record.nats.pid})`],
      'down stops only what dhw started',
    );
    assert.ok(isProcessAlive(foreign.pid));
  } finally {
    await infraDown(dir, { purge: true });
    await foreign.stop();
    await rm(join(dir, '..'), { recursive: true, force: true });
  }
});

test('infra down never stops a process that merely reuses a recorded pid (its start time differs)', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'dhw-infra-recycled-'));
  const stranger = await startNats({ jetstream: false }); // stands for whatever got the recorded pid
  try {
    const ticks = processStartTicks(stranger.pid);
    assert.ok(ticks !== undefined && ticks > 0, 'start time readable from /proc');
    assert.equal(processStartTicks(stranger.pid), ticks, 'stable for one process');
    const recorded = (startTicks: number) => ({
      pid: stranger.pid,
      startTicks,
      binary: 'nats-server',
      dataDir: dir,
      logFile: join(dir, 'nats.log'),
    });
    const record = {
      startedAt: new Date().toISOString(),
      etcd: { pid: null, binary: 'etcd', dataDir: '', logFile: '', endpoint: 'http://127.0.0.1:1' },
      nats: { ...recorded(ticks - 1), url: stranger.url, monitorUrl: stranger.monitorUrl },
    };
    await writeFile(join(dir, 'infra.json'), JSON.stringify(record));
    assert.deepEqual(await infraDown(dir), []);
    assert.equal(isProcessAlive(stranger.pid), true);
  } finally {
    await stranger.stop();
    await rm(dir, { recursive: true, force: true });
  }
});
