/**
 * `dhw worker --kv-events zmq://...` end to end, with real etcd + NATS and a fake vLLM publisher on real
 * ZeroMQ sockets: the worker republishes vLLM's batches on the `kv-events` log under its own id and our
 * block hashes, a kv router fed from that log sends a prompt sharing the cached prefix to this worker, and
 * kv_snapshot answers from the relayed table.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { freePort } from '../../infra/free-port.ts';
import type { WorkerId } from '../../protocols/ids.ts';
import { hashToWire, type WorkerKvEvent } from '../../protocols/kv-events.ts';
import type { KvSnapshot } from '../../protocols/router.ts';
import { createRouter } from '../../router/index.ts';
import { createEventBus, type EventBus } from '../../runtime/events/index.ts';
import { TcpRequestPlane } from '../../runtime/request-plane/index.ts';
import { computeBlockHashes } from '../../tokens/block-hash.ts';
import { defaultModelDir } from '../../util/paths.ts';
import { blockStored, eventBatch, FakeVllmPublisher } from '../testing/vllm-publisher-kit.ts';
import { eventually, freshNamespace, startInfra, type TestInfra } from '../testing/worker-kit.ts';
import { Worker } from '../worker.ts';

const BS = 4;
const PREFIX = Array.from({ length: 12 }, (_, i) => 40 + i); // three blocks

let infra: TestInfra;
let bus: EventBus;
let pub: FakeVllmPublisher;
let worker: Worker;
const plane = new TcpRequestPlane();
const namespace = freshNamespace();
const scope = { namespace, component: 'backend' };
const seen: WorkerKvEvent[] = [];

before(async () => {
  infra = await startInfra();
  const [port, replayPort] = [await freePort(), await freePort()];
  pub = new FakeVllmPublisher(`tcp://127.0.0.1:${port}`, `tcp://127.0.0.1:${replayPort}`);
  await pub.start();
  bus = await createEventBus({ backend: 'nats', natsServer: infra.nats.url });
  await bus.consumeKvEvents(scope, 'start', (d) => void seen.push(d.envelope.payload));
  worker = await Worker.start({
    engine: { kind: 'mocker', modelDir: defaultModelDir, options: { blockSize: BS, speedupRatio: 0 } },
    namespace,
    discovery: { backend: 'etcd', etcdEndpoints: infra.etcd.endpoint, ttlSeconds: 3 },
    events: { backend: 'nats', natsServer: infra.nats.url },
    canaryIntervalMs: 0,
    kvEvents: { endpoint: `zmq://127.0.0.1:${port}`, replayEndpoint: `zmq://127.0.0.1:${replayPort}` },
  });
});
after(async () => {
  await worker?.stop();
  await pub?.close();
  await plane.close();
  await bus?.close();
  await infra?.stop();
});

test("vLLM's BlockStored reaches the kv-events log as our hashes; a kv router routes the prefix here", async () => {
  const batch = eventBatch(1, [blockStored([11n, 12n, 13n], null, PREFIX, BS)]);
  // PUB drops what it sends before the subscription lands; the relay replays the rest from seq 0.
  // Bounded by time, not tries: a loaded box subscribes late.
  const deadline = Date.now() + 20_000;
  for (let i = 0; seen.length === 0 && Date.now() < deadline; i++) {
    await pub.publish(eventBatch(0, []));
    await new Promise((r) => setTimeout(r, 30));
    if (i === 0) await pub.publish(batch);
  }
  await eventually(() => seen.length >= 1, 'relayed KV event on NATS');
  const [first] = seen;
  assert.equal(first!.workerId, worker.instanceId);
  const ours = computeBlockHashes(PREFIX, BS).sequence.map(hashToWire);
  assert.deepEqual(
    first!.event.data.type === 'stored' && first!.event.data.blocks.map((b) => b.blockHash),
    ours,
  );

  const router = await createRouter({ router: 'kv', seed: 3, decisionLog: 'off' });
  const other = 'some-other-worker' as WorkerId;
  router.addWorker({ workerId: other, blockSize: BS, totalBlocks: 64 });
  router.addWorker({ workerId: worker.workerId, blockSize: BS, totalBlocks: 64 });
  for (const e of seen) router.applyKvEvent(e.workerId, e.event);
  const choice = router.route({ requestId: 'r', tokenIds: [...PREFIX, 1, 2] });
  assert.equal(choice.workerId, worker.workerId);
  assert.equal(choice.overlapBlocks, 3);

  const chunks: KvSnapshot[] = [];
  for await (const c of plane.call(worker.address, 'kv_snapshot', { workerId: worker.workerId }))
    chunks.push(c as KvSnapshot);
  const dumped = chunks.flatMap((c) =>
    c.events.map((e) => e.data.type === 'stored' && e.data.blocks[0]!.blockHash),
  );
  assert.deepEqual(dumped, ours);
  assert.equal(chunks[0]!.lastEventId, first!.event.eventId);
});
