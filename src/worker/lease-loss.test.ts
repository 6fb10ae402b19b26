/**
 * A lost discovery lease is survivable: `dhw worker` child processes against a real etcd that is stopped for
 * longer than the lease TTL, or that revokes the lease behind the worker's back. The worker keeps serving
 * what it has, the frontend keeps routing to the workers it knows, and the worker registers again (same
 * instance id) once etcd answers; `--exit-on-lease-loss` keeps Dynamo's exit instead.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { FrontendHandle } from '../frontend/index.ts';
import {
  eventually,
  quietLogs,
  spawnWorker,
  startTestFrontend,
  type WorkerProcess,
} from '../frontend/testing/frontend-kit.ts';
import { createDiscovery } from '../runtime/discovery/index.ts';
import { leaseFromInstanceId } from '../runtime/names.ts';
import { EventLog, freshNamespace, startInfra, type TestInfra } from './testing/worker-kit.ts';

const TTL_S = 2;
let infra: TestInfra;
const workers: WorkerProcess[] = [];

before(async () => {
  quietLogs();
  infra = await startInfra();
});
after(async () => {
  for (const w of workers) w.child.kill('SIGKILL');
  await infra?.stop();
});

async function startWorker(namespace: string, extra: string[] = []): Promise<WorkerProcess> {
  const worker = await spawnWorker([
    '--engine',
    'mocker',
    '--speedup-ratio',
    '1',
    '--namespace',
    namespace,
    '--discovery',
    'etcd',
    '--etcd-endpoints',
    infra.etcd.endpoint,
    '--events',
    'nats',
    '--nats-server',
    infra.nats.url,
    '--lease-ttl',
    String(TTL_S),
    ...extra,
  ]);
  workers.push(worker);
  return worker;
}

/** The lease (decimal) etcd holds `key` under, or undefined if the key is gone. */
async function leaseOfKey(key: string): Promise<string | undefined> {
  const res = await fetch(`${infra.etcd.endpoint}/v3/kv/range`, {
    method: 'POST',
    body: JSON.stringify({ key: Buffer.from(key).toString('base64') }),
  });
  const body = (await res.json()) as { kvs?: { lease?: string }[] };
  return body.kvs?.[0]?.lease;
}

/** Poll `check` until it holds; throw naming `what` after 15 s. */
async function until(check: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

const instanceKey = (namespace: string, id: string) =>
  `/dynamo/v1/instances/${namespace}/backend/generate/${id}`;

async function complete(frontend: FrontendHandle, maxTokens: number): Promise<number> {
  const res = await fetch(`${frontend.url}/v1/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      model: 'fortune-llama',
      prompt: [5, 6, 7],
      max_tokens: maxTokens,
      ignore_eos: true,
    }),
  });
  const body = (await res.json()) as { usage?: { completion_tokens: number } };
  assert.equal(res.status, 200, JSON.stringify(body));
  return body.usage?.completion_tokens ?? 0;
}

test(`etcd down for longer than the TTL (${TTL_S} s): requests keep being served, the worker registers again`, async () => {
  const namespace = freshNamespace();
  const worker = await startWorker(namespace);
  const frontend = await startTestFrontend(
    {
      namespace,
      discovery: { backend: 'etcd', etcdEndpoints: infra.etcd.endpoint },
      events: { backend: 'nats', natsServer: infra.nats.url },
      router: { router: 'round-robin' },
    },
    1,
  );
  try {
    // ~5.7 ms a token at speedup 1: this request is in flight for the whole outage.
    const inFlight = complete(frontend, 1000);
    await new Promise((resolve) => setTimeout(resolve, 200));
    const outage = infra.etcd.restart({ downMs: (TTL_S + 2) * 1000, kill: true });
    await new Promise((resolve) => setTimeout(resolve, (TTL_S + 1) * 1000));
    assert.equal(await complete(frontend, 4), 4, 'served while etcd is down and the lease has expired');
    await outage;
    assert.equal(await inFlight, 1000, 'the in-flight request finished');
    const key = instanceKey(namespace, worker.instanceId);
    // Two TTLs after etcd's return a lease nobody renews would have expired with its keys: a key seen from
    // then on is a live registration. Poll from there (a loaded box reconnects later), never assert at once.
    await new Promise((resolve) => setTimeout(resolve, 2 * TTL_S * 1000));
    await until(async () => (await leaseOfKey(key)) !== undefined, 'the instance key is registered again');
    assert.equal(worker.child.exitCode, null, 'the worker is still running');
    await until(async () => frontend.models.instances().length === 1, 'the frontend routes to the worker');
    assert.equal(await complete(frontend, 4), 4);
  } finally {
    await frontend.close();
    await worker.stop();
  }
});

test('lease revoked in etcd: the worker registers again under a new lease with the same instance id', async () => {
  const namespace = freshNamespace();
  const worker = await startWorker(namespace);
  const key = instanceKey(namespace, worker.instanceId);
  const log = new EventLog();
  const observer = await createDiscovery({ backend: 'etcd', etcdEndpoints: infra.etcd.endpoint });
  const watch = await observer.watch(key, log.push);
  try {
    const before = await leaseOfKey(key);
    assert.equal(before, leaseFromInstanceId(worker.instanceId));
    const res = await fetch(`${infra.etcd.endpoint}/v3/lease/revoke`, {
      method: 'POST',
      body: JSON.stringify({ ID: before }),
    });
    assert.equal(res.status, 200);
    await log.waitFor((e) => e.type === 'delete' && e.key === key, 'the revoke to delete the key', 15_000);
    await log.waitFor((e) => e.type === 'put' && e.key === key, 'the worker to register again', 10_000);
    const renewed = await leaseOfKey(key);
    assert.ok(renewed !== undefined && renewed !== before, `a new lease (${renewed}, was ${before})`);
    assert.equal(worker.child.exitCode, null);
  } finally {
    await watch.close();
    await observer.close();
    await worker.stop();
  }
});

test("keys deleted behind the worker's back while its lease lives are put back", async () => {
  const namespace = freshNamespace();
  const worker = await startWorker(namespace);
  const key = instanceKey(namespace, worker.instanceId);
  const card = key.replace('/instances/', '/mdc/');
  const log = new EventLog();
  const observer = await createDiscovery({ backend: 'etcd', etcdEndpoints: infra.etcd.endpoint });
  const watches = await Promise.all([observer.watch(key, log.push), observer.watch(card, log.push)]);
  try {
    await observer.delete(key);
    await observer.delete(card);
    await log.waitFor((e) => e.type === 'put' && e.key === key, 'the instance key back', 10_000);
    await log.waitFor((e) => e.type === 'put' && e.key === card, 'the model card back', 10_000);
    assert.equal(await leaseOfKey(key), leaseFromInstanceId(worker.instanceId), 'under the same lease');
  } finally {
    await Promise.all(watches.map((w) => w.close()));
    await observer.close();
    await worker.stop();
  }
});

test('--exit-on-lease-loss: a revoked lease makes the worker exit 3 (for a supervisor to restart)', async () => {
  const worker = await startWorker(freshNamespace(), ['--exit-on-lease-loss']);
  const res = await fetch(`${infra.etcd.endpoint}/v3/lease/revoke`, {
    method: 'POST',
    body: JSON.stringify({ ID: leaseFromInstanceId(worker.instanceId) }),
  });
  assert.equal(res.status, 200);
  assert.equal(await worker.exited, 3);
  await eventually(() => /discovery lease lost/.test(worker.output()), 'the lease-lost log line');
});
