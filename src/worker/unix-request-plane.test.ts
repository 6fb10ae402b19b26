/**
 * The request plane's Unix-domain socket between a worker and a frontend on one host: the worker
 * advertises the socket beside its TCP address, the frontend dials the socket (its instance list shows the
 * `unix:` address) and requests complete over it; a worker started without one is reached over TCP; a
 * record from another host is dialled over TCP; a stopped worker leaves no socket file behind, and the first
 * worker of a process sweeps the files of killed ones.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { type FrontendHandle, startFrontend } from '../frontend/index.ts';
import { quietLogs } from '../frontend/testing/frontend-kit.ts';
import { isInstanceInfo } from '../protocols/discovery.ts';
import { MemoryDiscoveryStore } from '../runtime/discovery/index.ts';
import { dialAddress } from '../runtime/request-plane/index.ts';
import { hostIdentity } from '../util/host-identity.ts';
import { defaultModelDir } from '../util/paths.ts';
import { eventually } from './testing/worker-kit.ts';
import { Worker } from './worker.ts';

quietLogs();

// A socket file of a worker that was killed -9: its pid ran and is gone.
const deadPid = spawnSync(process.execPath, ['-e', '']).pid;
const staleSocket = join(tmpdir(), `dhw-rp-${deadPid}-0badc0de.sock`);
writeFileSync(staleSocket, '');

const frontends: FrontendHandle[] = [];
const workers: Worker[] = [];
after(async () => {
  for (const f of frontends) await f.close();
  for (const w of workers) await w.stop({ drainMs: 0 });
});

async function stackWith(requestPlaneUnix: boolean): Promise<{ worker: Worker; frontend: FrontendHandle }> {
  const store = new MemoryDiscoveryStore();
  const worker = await Worker.start({
    engine: { kind: 'mocker', modelDir: defaultModelDir, options: { speedupRatio: 0 } },
    discovery: { backend: 'memory', memoryStore: store },
    events: { backend: 'memory' },
    systemPort: null,
    canaryIntervalMs: 0,
    requestPlaneUnix,
  });
  workers.push(worker);
  const frontend = await startFrontend({
    discovery: { backend: 'memory', memoryStore: store },
    events: { backend: 'memory' },
    router: { router: 'round-robin', decisionLog: 'off' },
    host: '127.0.0.1',
    port: 0,
  });
  frontends.push(frontend);
  await eventually(() => frontend.models.instances().length === 1, 'the frontend sees the worker');
  return { worker, frontend };
}

async function complete(frontend: FrontendHandle): Promise<{ text: string; tokens: number }> {
  const res = await fetch(`${frontend.url}/v1/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ prompt: 'the quick brown fox', max_tokens: 5, ignore_eos: true, temperature: 0 }),
  });
  assert.equal(res.status, 200, await res.clone().text());
  const body = (await res.json()) as { choices: { text: string }[]; usage: { completion_tokens: number } };
  return { text: body.choices[0]!.text, tokens: body.usage.completion_tokens };
}

test('a same-host worker is dialled on its Unix socket, and requests complete over it', async () => {
  const { worker, frontend } = await stackWith(true);
  const unix = worker.instanceInfo.transport.unix;
  assert.ok(unix, 'the registration carries a Unix socket');
  assert.equal(unix.host, hostIdentity());
  assert.ok(existsSync(unix.path), `socket file ${unix.path}`);
  assert.ok(isInstanceInfo(worker.instanceInfo), 'the record passes the discovery guard');
  assert.equal(frontend.models.instances()[0]!.address, `unix:${unix.path}`);
  for (let i = 0; i < 3; i++) assert.equal((await complete(frontend)).tokens, 5);
  await worker.stop({ drainMs: 0 });
  assert.equal(existsSync(unix.path), false, 'the socket file is removed on stop');
  assert.equal(existsSync(staleSocket), false, "a killed worker's socket file was swept");
});

test('without a Unix socket the same worker is reached over TCP, with the same output', async () => {
  const { worker, frontend } = await stackWith(false);
  assert.equal(worker.instanceInfo.transport.unix, undefined);
  assert.equal(frontend.models.instances()[0]!.address, worker.address);
  assert.equal((await complete(frontend)).tokens, 5);
});

test('a record from another host (or namespace) is dialled over TCP; a malformed socket entry is refused', () => {
  const transport = { tcp: '10.0.0.7:4100', unix: { path: '/tmp/dhw-rp-1.sock', host: 'elsewhere/boot' } };
  assert.equal(dialAddress(transport), '10.0.0.7:4100');
  assert.equal(dialAddress(transport, 'elsewhere/boot'), 'unix:/tmp/dhw-rp-1.sock');
  assert.equal(dialAddress({ tcp: '10.0.0.7:4100' }), '10.0.0.7:4100');
  const record = { namespace: 'n', component: 'c', endpoint: 'e', instanceId: 'ab12', transport };
  assert.equal(isInstanceInfo(record), true);
  const relative = { ...record, transport: { ...transport, unix: { path: 'dhw.sock', host: 'h' } } };
  assert.equal(isInstanceInfo(relative), false);
});
