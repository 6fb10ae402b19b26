import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { LlmEngine } from '../engine/index.ts';
import { freePort } from '../infra/local-servers.ts';
import { isInstanceInfo, isModelCard } from '../protocols/discovery.ts';
import type { EngineOutput } from '../protocols/engine.ts';
import { isLoadMetrics, type LoadMetrics, type WorkerKvEvent } from '../protocols/kv-events.ts';
import { isKvSnapshot, type KvSnapshot } from '../protocols/router.ts';
import { createDiscovery, type Discovery, DiscoveryUnavailableError } from '../runtime/discovery/index.ts';
import { createEventBus, type EventBus } from '../runtime/events/index.ts';
import { instancesPrefix, leaseFromInstanceId, modelCardsPrefix } from '../runtime/names.ts';
import { RemoteError, TcpRequestPlane } from '../runtime/request-plane/index.ts';
import { Tokenizer } from '../tokens/index.ts';
import { defaultModelDir } from '../util/paths.ts';
import {
  EventLog,
  eventually,
  freshNamespace,
  greedyRequest,
  startInfra,
  type TestInfra,
} from './testing/worker-kit.ts';
import { Worker } from './worker.ts';
import type { WorkerOptions } from './worker-options.ts';

let infra: TestInfra;
let observer: Discovery;
const plane = new TcpRequestPlane();

before(async () => {
  infra = await startInfra();
  observer = await createDiscovery({ backend: 'etcd', etcdEndpoints: infra.etcd.endpoint });
});
after(async () => {
  await plane.close();
  await observer?.close();
  await infra?.stop();
});

function workerOptions(namespace: string, extra: Partial<WorkerOptions> = {}): WorkerOptions {
  return {
    engine: { kind: 'scratch', options: { modelDir: defaultModelDir } },
    namespace,
    discovery: { backend: 'etcd', etcdEndpoints: infra.etcd.endpoint, ttlSeconds: 3 },
    events: { backend: 'nats', natsServer: infra.nats.url },
    canaryIntervalMs: 0,
    ...extra,
  };
}

async function collect<T>(items: AsyncIterable<unknown>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item as T);
  return out;
}

test('registers instance + model card in etcd under its lease; a watcher sees it come and go', async () => {
  const namespace = freshNamespace();
  const log = new EventLog();
  const watches = await Promise.all([
    observer.watch(instancesPrefix({ namespace }), log.push),
    observer.watch(modelCardsPrefix({ namespace }), log.push),
  ]);
  const worker = await Worker.start(workerOptions(namespace));
  const instanceKey = `/dynamo/v1/instances/${namespace}/backend/generate/${worker.instanceId}`;
  const cardKey = `/dynamo/v1/mdc/${namespace}/backend/generate/${worker.instanceId}`;
  try {
    await log.waitFor((e) => e.type === 'put' && e.key === instanceKey, 'instance put');
    await log.waitFor((e) => e.type === 'put' && e.key === cardKey, 'model card put');

    const info = await observer.get(instanceKey);
    assert.ok(isInstanceInfo(info));
    assert.equal(info.transport.tcp, worker.address);
    assert.equal(info.systemPort, worker.systemPort);
    assert.equal(info.pid, process.pid);
    const card = await observer.get(cardKey);
    assert.ok(isModelCard(card));
    assert.equal(card.displayName, 'fortune-llama');
    assert.equal(card.modelType, 'chat');
    // With etcd + NATS the card's files travel through the object store (docs/model-cards.md).
    assert.equal(card.tokenizer.kind, 'nats-object-store');
    assert.equal(card.tokenizer.bucket, 'fortune-llama');
    assert.equal(card.tokenizer.workerPath, defaultModelDir);
    assert.equal(card.chatTemplate, await readFile(join(defaultModelDir, 'chat_template.jinja'), 'utf8'));
    assert.equal(card.kvCacheBlockSize, 16);
    assert.equal(card.totalKvBlocks, worker.engine.kv.numBlocks);
    assert.equal(card.contextLength, 1024);
    assert.equal(card.maxNumSeqs, 64);
    assert.equal(card.maxNumBatchedTokens, 2048);

    // The curriculum's debug command shows the same keys, attached to the worker's lease.
    const { stdout } = await promisify(execFile)('etcdctl', [
      `--endpoints=${infra.etcd.endpoint}`,
      'get',
      '--prefix',
      `/dynamo/v1/instances/${namespace}/`,
      '-w',
      'json',
    ]);
    // etcdctl prints the lease as a bare 64-bit number: read its digits, not a lossy double.
    const leases = [...stdout.matchAll(/"lease":(\d+)/g)].map((m) => m[1]);
    assert.deepEqual(leases, [leaseFromInstanceId(worker.instanceId)]);
  } finally {
    await worker.stop();
  }
  assert.deepEqual(await worker.exited, { reason: 'stopped' });
  await log.waitFor((e) => e.type === 'delete' && e.key === cardKey, 'model card delete');
  await log.waitFor((e) => e.type === 'delete' && e.key === instanceKey, 'instance delete');
  assert.deepEqual(await observer.list(instancesPrefix({ namespace })), []);
  await Promise.all(watches.map((w) => w.close()));
});

describe('a scratch-engine worker over TCP, with NATS', () => {
  const namespace = freshNamespace();
  const scope = { namespace, component: 'backend' };
  let worker: Worker;
  let bus: EventBus;
  const kvEvents: WorkerKvEvent[] = [];
  const loads: LoadMetrics[] = [];

  before(async () => {
    bus = await createEventBus({ backend: 'nats', natsServer: infra.nats.url });
    worker = await Worker.start(workerOptions(namespace));
    await bus.consumeKvEvents(scope, 'start', (d) => void kvEvents.push(d.envelope.payload));
    await bus.subscribe(scope, 'kv_metrics', (e) => void loads.push(e.payload));
  });
  after(async () => {
    await worker?.stop();
    await bus?.close();
  });

  test('generate over TCP streams the same greedy tokens as the engine run directly', async () => {
    const tokenizer = await Tokenizer.fromDir(defaultModelDir);
    const prompt = tokenizer.encode('The quick brown fox jumps over the lazy dog, and then it ran far away.');
    assert.ok(prompt.length > 16, 'prompt must fill at least one KV block');
    const request = greedyRequest(prompt, 12);

    const remote = await collect<EngineOutput>(plane.call(worker.address, 'generate', request));
    const engine = await LlmEngine.create({ modelDir: defaultModelDir });
    const local = await collect<EngineOutput>(engine.generate(greedyRequest(prompt, 12)));
    await engine.close();

    assert.equal(remote.length, 12);
    assert.deepEqual(
      remote.map((o) => o.tokenId),
      local.map((o) => o.tokenId),
    );
    assert.equal(remote.at(-1)?.finishReason, 'length');
    assert.ok(remote.every((o) => o.requestId === request.requestId));

    // KV events reach NATS stamped with this worker's id, ids 1, 2, 3, ... in order.
    await eventually(() => kvEvents.length >= 1, 'KV events on NATS');
    assert.ok(kvEvents.every((e) => e.workerId === worker.instanceId));
    assert.deepEqual(
      kvEvents.map((e) => e.event.eventId),
      kvEvents.map((_, i) => i + 1),
    );
    const first = kvEvents[0]!.event.data;
    assert.equal(first.type, 'stored');
    assert.deepEqual(first.type === 'stored' ? first.blocks[0]?.tokenIds : [], prompt.slice(0, 16));

    // Load reports arrive too, stamped with the same id.
    await eventually(() => loads.length >= 1, 'load metrics on NATS');
    assert.ok(loads.every((l) => isLoadMetrics(l) && l.workerId === worker.instanceId));
    assert.equal(loads.at(-1)?.kvTotalBlocks, worker.engine.kv.numBlocks);
  });

  test('kv_snapshot returns the cached blocks the KV events announced; load returns LoadMetrics', async () => {
    const chunks = await collect<KvSnapshot>(
      plane.call(worker.address, 'kv_snapshot', { workerId: worker.workerId }),
    );
    assert.ok(chunks.length >= 1 && chunks.every(isKvSnapshot));
    const events = chunks.flatMap((c) => c.events);
    const announced = kvEvents.flatMap((e) => (e.event.data.type === 'stored' ? e.event.data.blocks : []));
    assert.deepEqual(
      new Set(events.flatMap((e) => (e.data.type === 'stored' ? e.data.blocks.map((b) => b.blockHash) : []))),
      new Set(announced.map((b) => b.blockHash)),
    );
    assert.equal(chunks[0]!.lastEventId, worker.engine.kv.events.lastEventId);

    const [load] = await collect<LoadMetrics>(plane.call(worker.address, 'load', {}));
    assert.ok(isLoadMetrics(load));
    assert.equal(load.workerId, worker.instanceId);
    assert.equal(load.numRunning, 0);
  });

  test('/health reports the canary, /live answers, /metrics has dynamo_component_* series', async () => {
    const base = `http://127.0.0.1:${worker.systemPort}`;
    const health = await fetch(`${base}/health`);
    assert.equal(health.status, 200);
    const body = (await health.json()) as {
      ready: boolean;
      instanceId: string;
      canary: { ok: boolean; latencyMs: number };
    };
    assert.equal(body.ready, true);
    assert.equal(body.instanceId, worker.instanceId);
    assert.equal(body.canary.ok, true);
    assert.ok(body.canary.latencyMs > 0);

    const again = await worker.runCanary();
    assert.equal(again.ok, true);
    const after = (await (await fetch(`${base}/health`)).json()) as { canary: { at: string } };
    assert.equal(after.canary.at, again.at);

    assert.equal((await fetch(`${base}/live`)).status, 200);
    const metrics = await (await fetch(`${base}/metrics`)).text();
    const labels = `dynamo_namespace="${namespace}",dynamo_component="backend",dynamo_endpoint="generate",worker_id="${worker.instanceId}"`;
    assert.match(metrics, new RegExp(`dynamo_component_requests_total\\{${labels},status="success"\\} 1\\b`));
    assert.match(
      metrics,
      new RegExp(`dynamo_component_kvstats_total_blocks\\{${labels}\\} ${worker.engine.kv.numBlocks}\\b`),
    );
    assert.match(metrics, /dynamo_component_inflight_requests\{[^}]*\} 0\b/);
    assert.match(metrics, /dynamo_component_kvstats_gpu_prefix_cache_hit_rate\{/);
    assert.match(metrics, /dynamo_component_canary_ok\{[^}]*\} 1\b/);
    // The request's first output carried its queue time: one observation each of queue and prefill time.
    assert.match(
      metrics,
      new RegExp(`dynamo_component_request_queue_time_seconds_count\\{${labels}\\} 1\\b`),
    );
    assert.match(
      metrics,
      new RegExp(`dynamo_component_request_prefill_time_seconds_count\\{${labels}\\} 1\\b`),
    );
    // A lone request's tokens each take a step of their own: 6 more tokens, at least 6 more steps counted.
    const stepsOf = (text: string) =>
      Number(new RegExp(`dynamo_component_engine_steps_total\\{${labels}\\} (\\d+)`).exec(text)?.[1]);
    const stepsBefore = stepsOf(metrics);
    await collect(worker.engine.generate(greedyRequest([1, 450, 996], 6, 'steps')));
    const stepsAfter = stepsOf(await (await fetch(`${base}/metrics`)).text());
    assert.ok(
      stepsAfter - stepsBefore >= 6,
      `engine steps ${stepsBefore} → ${stepsAfter} for a 6-token request`,
    );
  });

  test('a malformed payload or an out-of-vocabulary token fails with code invalid_request', async () => {
    const bad = collect(plane.call(worker.address, 'generate', { requestId: 'x', promptTokenIds: 'hello' }));
    await assert.rejects(bad, (err: unknown) => err instanceof RemoteError && err.code === 'invalid_request');
    const oov = collect(plane.call(worker.address, 'generate', greedyRequest([1, 99_999], 2)));
    await assert.rejects(oov, (err: unknown) => err instanceof RemoteError && err.code === 'invalid_request');
  });
});

test('a caller cancel aborts the engine request and frees its KV blocks', async () => {
  const namespace = freshNamespace();
  const worker = await Worker.start(
    workerOptions(namespace, {
      engine: { kind: 'mocker', modelDir: defaultModelDir, options: { speedupRatio: 1 } },
      systemPort: null,
    }),
  );
  try {
    const abort = new AbortController();
    let received = 0;
    await assert.rejects(async () => {
      for await (const _ of plane.call(worker.address, 'generate', greedyRequest([5, 6, 7, 8], 900), {
        signal: abort.signal,
      })) {
        if (++received === 3) abort.abort(new Error('client went away'));
      }
    }, /client went away/);
    await eventually(() => worker.engine.loadMetrics().numRunning === 0, 'the engine to drop the request');
    assert.equal(worker.engine.loadMetrics().kvUsedBlocks, 0);
    const metrics = await worker.metrics.render();
    assert.match(metrics.body, /dynamo_component_requests_total\{[^}]*status="cancelled"\} 1\b/);
  } finally {
    await worker.stop();
  }
});

test('etcd unreachable at start: a clear DiscoveryUnavailableError, nothing left running', {
  timeout: 10_000,
}, async () => {
  const port = await freePort();
  const start = Worker.start(
    workerOptions(freshNamespace(), {
      discovery: { backend: 'etcd', etcdEndpoints: `http://127.0.0.1:${port}` },
    }),
  );
  await assert.rejects(start, (err: unknown) => {
    assert.ok(err instanceof DiscoveryUnavailableError);
    assert.match(
      (err as Error).message,
      new RegExp(`Cannot reach etcd at http://127.0.0.1:${port}.*dhw infra up`),
    );
    return true;
  });
});

test('exitOnLeaseLoss: a revoked lease makes the worker stop itself and report lease-lost', async () => {
  const worker = await Worker.start(
    workerOptions(freshNamespace(), { systemPort: null, exitOnLeaseLoss: true }),
  );
  const res = await fetch(`${infra.etcd.endpoint}/v3/lease/revoke`, {
    method: 'POST',
    body: JSON.stringify({ ID: leaseFromInstanceId(worker.instanceId) }),
  });
  assert.equal(res.status, 200);
  const exit = await worker.exited;
  assert.equal(exit.reason, 'lease-lost');
  assert.equal(worker.state, 'stopped');
  assert.deepEqual(await observer.list(instancesPrefix({ namespace: worker.endpointId.namespace })), []);
});
