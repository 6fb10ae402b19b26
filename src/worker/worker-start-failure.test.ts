/**
 * A start that fails half-way releases exactly what it took: the parts the worker created are closed
 * (lease revoked, engine closed, endpoints no longer served, status port free), and the parts the caller
 * lent it through `runtime` are left open. In-memory discovery, event bus and request plane: no servers.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import { test } from 'node:test';
import type { EngineCore } from '../engine/index.ts';
import { MockEngine } from '../mocker/index.ts';
import type { InstanceId } from '../protocols/discovery.ts';
import { DEFAULT_SAMPLING } from '../protocols/engine.ts';
import { asRequestId, asWorkerId } from '../protocols/ids.ts';
import type { LoadMetrics } from '../protocols/kv-events.ts';
import { MemoryDiscoveryStore } from '../runtime/discovery/index.ts';
import { MemoryBroker, MemoryEventBus } from '../runtime/events/index.ts';
import { ConnectError, InMemoryRequestPlane } from '../runtime/request-plane/index.ts';
import { defaultModelDir } from '../util/paths.ts';
import { WorkerError } from './errors.ts';
import { freshNamespace } from './testing/worker-kit.ts';
import { Worker } from './worker.ts';
import type { WorkerOptions } from './worker-options.ts';

/** A discovery store that remembers the leases it granted, to check they were revoked. */
class RecordingStore extends MemoryDiscoveryStore {
  readonly granted: InstanceId[] = [];
  override grantLease(...args: Parameters<MemoryDiscoveryStore['grantLease']>): InstanceId {
    const id = super.grantLease(...args);
    this.granted.push(id);
    return id;
  }
}

interface Setup {
  options: WorkerOptions;
  store: RecordingStore;
  bus: MemoryEventBus;
  plane: InMemoryRequestPlane;
  engines: EngineCore[];
}

/** Discovery is the worker's own (memory backend); the event bus and the request plane are lent. */
function setup(
  engineOptions: ConstructorParameters<typeof MockEngine>[0],
  extra: Partial<WorkerOptions>,
): Setup {
  const store = new RecordingStore();
  const bus = new MemoryEventBus({ broker: new MemoryBroker() });
  const plane = new InMemoryRequestPlane();
  const engines: EngineCore[] = [];
  const options: WorkerOptions = {
    engine: {
      kind: 'custom',
      modelDir: defaultModelDir,
      create: async (workerId) => {
        const engine = new MockEngine({ ...engineOptions, workerId, speedupRatio: 0 });
        engines.push(engine);
        return engine;
      },
    },
    namespace: freshNamespace(),
    discovery: { backend: 'memory', memoryStore: store },
    runtime: { eventBus: bus, requestPlane: plane },
    canaryIntervalMs: 0,
    ...extra,
  };
  return { options, store, bus, plane, engines };
}

async function engineIsClosed(engine: EngineCore): Promise<boolean> {
  const stream = engine.generate({
    requestId: asRequestId('probe'),
    promptTokenIds: [1],
    sampling: { ...DEFAULT_SAMPLING, temperature: 0 },
    stopping: { maxTokens: 1, stopTokenIds: [], ignoreEos: true },
  });
  try {
    for await (const _ of stream) return false;
    return false;
  } catch (err) {
    return /engine is closed/.test((err as Error).message);
  }
}

function listen(port = 0): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}

function portOf(server: Server): number {
  return (server.address() as { port: number }).port;
}

async function close(server: Server): Promise<void> {
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

/** What every failed start must leave behind: its own parts released, the lent ones untouched. */
async function assertReleasedExactly(s: Setup): Promise<void> {
  assert.equal(s.store.granted.length, 1, 'the worker took one lease');
  assert.equal(s.store.hasLease(s.store.granted[0] as InstanceId), false, 'its lease is revoked');
  assert.deepEqual(s.store.list(''), [], 'no key of it is left in discovery');
  assert.equal(s.engines.length, 1);
  assert.ok(await engineIsClosed(s.engines[0] as EngineCore), 'its engine is closed');
  // The lent request plane still works, but the worker's endpoints are no longer served on it.
  await assert.rejects(
    (async () => {
      for await (const _ of s.plane.call('memory:1', 'load', {})) break;
    })(),
    ConnectError,
  );
  const other = await s.plane.serve({
    ping: async function* () {
      yield 'pong';
    },
  });
  const replies: unknown[] = [];
  for await (const item of s.plane.call(other.address, 'ping', null)) replies.push(item);
  assert.deepEqual(replies, ['pong']);
  await other.stop({ drainMs: 0 });
  // The lent event bus is still open.
  assert.doesNotThrow(() => s.bus.publish({ namespace: 'n', component: 'c' }, 'kv_metrics', loadSample()));
}

function loadSample(): LoadMetrics {
  return {
    workerId: asWorkerId('caller'),
    activeDecodeBlocks: 0,
    activePrefillTokens: 0,
    kvUsedBlocks: 0,
    kvTotalBlocks: 1,
    numWaiting: 0,
    numRunning: 0,
    gpuCacheUsagePerc: 0,
  };
}

test('status port already taken: the start fails and releases lease, engine, endpoints; lent parts stay open', async () => {
  const squatter = await listen();
  try {
    const s = setup({}, { systemPort: portOf(squatter) });
    await assert.rejects(Worker.start(s.options), (err: unknown) => {
      assert.ok(err instanceof WorkerError);
      assert.match((err as Error).message, /status server.*Pick another --system-port/);
      return true;
    });
    await assertReleasedExactly(s);
  } finally {
    await close(squatter);
  }
});

test('startup canary fails (after every part is up): all of them are released, the status port too', async () => {
  const probe = await listen();
  const systemPort = portOf(probe);
  await close(probe);
  // A 3-token canary prompt does not fit a 3-token context: the engine refuses it.
  const s = setup({ contextLength: 3 }, { systemPort });
  await assert.rejects(Worker.start(s.options), (err: unknown) => {
    assert.ok(err instanceof WorkerError);
    assert.match((err as Error).message, /startup canary/);
    return true;
  });
  await assertReleasedExactly(s);
  const again = await listen(systemPort); // the status server let go of its port
  await close(again);
});
