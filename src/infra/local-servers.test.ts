import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { test } from 'node:test';
import { isProcessAlive } from '../util/process-alive.ts';
import { ensureServerBinary, freePort, startEtcd, startNats } from './local-servers.ts';
import { captureStderrUntil } from './testing/stderr-kit.ts';

async function etcdPut(endpoint: string, key: string, value: string): Promise<void> {
  const b64 = (s: string) => Buffer.from(s).toString('base64');
  const res = await fetch(`${endpoint}/v3/kv/put`, {
    method: 'POST',
    body: JSON.stringify({ key: b64(key), value: b64(value) }),
  });
  assert.equal(res.status, 200);
}

async function etcdGet(endpoint: string, key: string): Promise<string | undefined> {
  const res = await fetch(`${endpoint}/v3/kv/range`, {
    method: 'POST',
    body: JSON.stringify({ key: Buffer.from(key).toString('base64') }),
  });
  const body = (await res.json()) as { kvs?: { value: string }[] };
  return body.kvs?.[0] ? Buffer.from(body.kvs[0].value, 'base64').toString() : undefined;
}

/** The first line a NATS server sends on connect: `INFO {...}`. */
function natsInfo(url: string): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname);
    socket.once('data', (chunk) => {
      socket.destroy();
      resolve(chunk.toString());
    });
    socket.once('error', reject);
  });
}

test('ensureServerBinary finds both servers as absolute paths', async () => {
  assert.match(await ensureServerBinary('etcd'), /^\/.*\/etcd$/);
  assert.match(await ensureServerBinary('nats-server'), /^\/.*\/nats-server$/);
});

test('freePort returns distinct bindable ports', async () => {
  const a = await freePort();
  const b = await freePort();
  assert.notEqual(a, b);
  assert.ok(a > 0 && b > 0);
});

test('etcd: starts on loopback, serves KV, keeps data across restart, removes its temp dir on stop', async () => {
  const etcd = await startEtcd();
  try {
    assert.match(etcd.endpoint, /^http:\/\/127\.0\.0\.1:\d+$/);
    const version = (await (await fetch(`${etcd.endpoint}/version`)).json()) as { etcdserver: string };
    assert.match(version.etcdserver, /^3\./);
    await etcdPut(etcd.endpoint, '/dynamo/test', 'survives');
    const firstPid = etcd.pid;
    await etcd.restart();
    assert.notEqual(etcd.pid, firstPid);
    assert.equal(isProcessAlive(firstPid), false);
    assert.equal(await etcdGet(etcd.endpoint, '/dynamo/test'), 'survives');
  } finally {
    await etcd.stop();
  }
  assert.equal(isProcessAlive(etcd.pid), false);
  assert.equal(existsSync(etcd.dataDir), false);
});

test('etcd: a caller-given data dir is kept after stop', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'dhw-test-etcd-'));
  try {
    const etcd = await startEtcd({ dataDir: join(dir, 'data') });
    await etcd.stop();
    assert.ok(existsSync(join(dir, 'data', 'member')));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('etcd: a port already in use is an error that names the problem', async () => {
  const etcd = await startEtcd();
  try {
    const port = Number(new URL(etcd.endpoint).port);
    await assert.rejects(startEtcd({ port }), /etcd cannot start: port \d+ on 127.0.0.1 is already in use/);
  } finally {
    await etcd.stop();
  }
});

test('nats: starts with JetStream on loopback and restarts on the same port', async () => {
  const nats = await startNats();
  try {
    assert.match(nats.url, /^nats:\/\/127\.0\.0\.1:\d+$/);
    const info = await natsInfo(nats.url);
    assert.match(info, /^INFO /);
    assert.match(info, /"jetstream":true/);
    const port = new URL(nats.url).port;
    await nats.restart();
    assert.equal(new URL(nats.url).port, port);
    assert.match(await natsInfo(nats.url), /^INFO /);
  } finally {
    await nats.stop();
  }
  assert.equal(isProcessAlive(nats.pid), false);
  assert.equal(existsSync(nats.dataDir), false);
});

test('a server that dies while in use is reported on stderr; stopping it afterwards signals nothing', async () => {
  const nats = await startNats({ jetstream: false });
  const { report, written } = await captureStderrUntil('[infra] nats-server', async () => {
    process.kill(nats.pid, 'SIGKILL');
    assert.ok(await waitForDeath(nats.pid, 10_000), 'nats-server died');
  });
  assert.ok(report, `no report of the death on stderr: ${JSON.stringify(written)}`);
  assert.match(report, new RegExp(`pid ${nats.pid}.* exited with SIGKILL while in use`));
  // The pid is free now and may be reused by an unrelated process: stop (twice) must not signal it.
  const kill = process.kill;
  const signalled: number[] = [];
  process.kill = ((pid: number, signal?: string | number) => {
    signalled.push(pid);
    return kill(pid, signal);
  }) as typeof process.kill;
  try {
    await nats.stop();
    await nats.stop();
  } finally {
    process.kill = kill;
  }
  assert.deepEqual(signalled, []);
});

/** Run testing/hold-etcd-process.ts in a child process and return it with the pid of the etcd it started. */
async function spawnEtcdHolder(mode: 'hang' | 'exit'): Promise<{ child: ChildProcess; etcdPid: number }> {
  const script = join(import.meta.dirname, 'testing', 'hold-etcd-process.ts');
  const child = spawn(process.execPath, ['--import', 'tsx', script, mode], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const [line] = (await once(createInterface({ input: child.stdout as Readable }), 'line')) as [string];
  return { child, etcdPid: (JSON.parse(line) as { etcdPid: number }).etcdPid };
}

/** Whether `pid` is gone within `ms`. Callers pass generous bounds: the claim is only "it dies", and a
 * loaded box runs the exit hooks and the watchdog's once-a-second poll late. */
async function waitForDeath(pid: number, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (!isProcessAlive(pid)) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
}

test('an attached etcd dies when its owner exits normally', async () => {
  const { etcdPid } = await spawnEtcdHolder('exit');
  assert.equal(await waitForDeath(etcdPid, 15_000), true);
});

test('an attached etcd dies when its owner is killed with SIGKILL (watchdog)', async () => {
  const { child, etcdPid } = await spawnEtcdHolder('hang');
  assert.equal(isProcessAlive(etcdPid), true);
  child.kill('SIGKILL');
  assert.equal(await waitForDeath(etcdPid, 15_000), true);
});
