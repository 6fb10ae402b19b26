/**
 * `--router kv` over vLLM-fed workers, the whole path with real etcd + NATS: two workers, each relaying a
 * fake vLLM publisher (`kvEvents`), a frontend with the kv router. vLLM engine B reports a prompt prefix
 * cached; an HTTP completion with that prefix goes to worker B, one with another prefix that engine A
 * cached goes to A. The workers' engines are mockers: which worker ran a request shows in its cache stats.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { type FrontendHandle, startFrontend } from '../../frontend/index.ts';
import { quietLogs } from '../../frontend/testing/frontend-kit.ts';
import { freePort } from '../../infra/free-port.ts';
import { defaultModelDir } from '../../util/paths.ts';
import { blockStored, eventBatch, FakeVllmPublisher } from '../testing/vllm-publisher-kit.ts';
import { eventually, freshNamespace, startInfra, type TestInfra } from '../testing/worker-kit.ts';
import { Worker } from '../worker.ts';

quietLogs();

const BS = 4;
const namespace = freshNamespace();
let infra: TestInfra;
let frontend: FrontendHandle;
const publishers: FakeVllmPublisher[] = [];
const workers: Worker[] = [];

before(async () => {
  infra = await startInfra();
  for (let i = 0; i < 2; i++) {
    const [port, replayPort] = [await freePort(), await freePort()];
    const pub = new FakeVllmPublisher(`tcp://127.0.0.1:${port}`, `tcp://127.0.0.1:${replayPort}`);
    await pub.start();
    publishers.push(pub);
    workers.push(
      await Worker.start({
        engine: { kind: 'mocker', modelDir: defaultModelDir, options: { blockSize: BS, speedupRatio: 0 } },
        namespace,
        discovery: { backend: 'etcd', etcdEndpoints: infra.etcd.endpoint, ttlSeconds: 3 },
        events: { backend: 'nats', natsServer: infra.nats.url },
        canaryIntervalMs: 0,
        systemPort: null,
        kvEvents: { endpoint: `zmq://127.0.0.1:${port}`, replayEndpoint: `zmq://127.0.0.1:${replayPort}` },
      }),
    );
  }
  frontend = await startFrontend({
    namespace,
    host: '127.0.0.1',
    port: 0,
    drainTimeoutMs: 1000,
    discovery: { backend: 'etcd', etcdEndpoints: infra.etcd.endpoint },
    events: { backend: 'nats', natsServer: infra.nats.url },
    router: { router: 'kv', seed: 7 },
  });
});
after(async () => {
  await frontend?.close();
  for (const w of workers) await w.stop({ drainMs: 0 });
  for (const p of publishers) await p.close();
  await infra?.stop();
});

/** Publish one vLLM batch until the frontend's router has applied `count` KV events in all. */
async function storeOnVllm(
  pub: FakeVllmPublisher,
  tokens: number[],
  hash: bigint,
  count: number,
): Promise<void> {
  const batch = eventBatch(1, [blockStored([hash, hash + 1n, hash + 2n], null, tokens, BS)]);
  await pub.publish(batch);
  // Keep publishing until heard (bounded by time, not tries: a loaded box subscribes late).
  const deadline = Date.now() + 20_000;
  while (frontend.events.stats.kvEventsApplied < count && Date.now() < deadline) {
    await pub.publish(eventBatch(2, [])); // PUB drops until subscribed; the relay replays from the buffer
    await new Promise((r) => setTimeout(r, 30));
  }
  await eventually(() => frontend.events.stats.kvEventsApplied >= count, 'router applied the KV event');
}

async function complete(prompt: number[]): Promise<void> {
  const res = await fetch(`${frontend.url}/v1/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'fortune-llama', prompt, max_tokens: 2, temperature: 0 }),
  });
  assert.equal(res.status, 200, await res.clone().text());
  await res.json();
}

async function eventuallyAsync(check: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const queried = (): number[] => workers.map((w) => w.engine.kv.stats().queryTokens);

test('a completion goes to the worker whose vLLM engine holds its prefix', async () => {
  await eventually(() => frontend.models.list().length === 1, 'model listed');
  await eventuallyAsync(async () => {
    const health = (await (await fetch(`${frontend.url}/health`)).json()) as { instances?: unknown[] };
    return health.instances?.length === 2;
  }, 'both workers known to the frontend');
  const [onA, onB] = [
    Array.from({ length: 12 }, (_, i) => 300 + i),
    Array.from({ length: 12 }, (_, i) => 600 + i),
  ];
  await storeOnVllm(publishers[1]!, onB, 100n, 1);
  await storeOnVllm(publishers[0]!, onA, 200n, 2);

  const before = queried();
  await complete([...onB, 5, 6]);
  const mid = queried();
  assert.ok(mid[1]! > before[1]! && mid[0] === before[0], `B ran it: ${before} → ${mid}`);
  await complete([...onA, 7, 8]);
  const end = queried();
  assert.ok(end[0]! > mid[0]! && end[1] === mid[1], `A ran it: ${mid} → ${end}`);
});
