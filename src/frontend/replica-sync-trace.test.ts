/**
 * Router replica sync on a generated conversation trace, through a real nats-server: one frontend, two
 * frontends with `--router-replica-sync`, and two without, each routing over the same four simulated
 * workers. The workers are a cache model (LRU per worker, capacity in blocks) on a virtual clock: a request
 * holds its worker for a time that grows with its uncached prompt, and when it ends its blocks are cached
 * there and `stored` / `removed` KV events reach every router (as the shared KV stream would). Requests
 * alternate between the frontends.
 *
 * Quality is measured on the simulated cluster's truth, not on what a router believes:
 *   - hit rate: prompt blocks found in the chosen worker's cache / all prompt blocks;
 *   - spread: at each decision, the chosen worker's requests in flight minus the least-loaded worker's
 *     (0 = the request went to an idle-most worker), averaged.
 * Two synced frontends must be within 10 % of one frontend on both. Without sync each router misses the
 * other's requests in flight (their load, and the blocks they are about to cache), and the hit rate drops:
 * a conversation's next turn, sent through the other frontend, does not find where its history is going.
 * (The pile-up of unsynced routers on one worker in a burst is shown in replica-sync.test.ts.)
 */
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { type NatsServer, startNats } from '../infra/local-servers.ts';
import { asWorkerId, type WorkerId } from '../protocols/ids.ts';
import { hashToWire, type KvCacheEvent } from '../protocols/kv-events.ts';
import { createRouter, type Router } from '../router/index.ts';
import { createEventBus, type EventBus } from '../runtime/events/index.ts';
import { freshScope, retryUntil } from '../runtime/events/testing/event-bus-kit.ts';
import { computeBlockHashes } from '../tokens/block-hash.ts';
import { getLogger } from '../util/logger.ts';
import { Mulberry32 } from '../util/prng.ts';
import { RouterReplicaSync } from './replica-sync.ts';
import { quietLogs } from './testing/frontend-kit.ts';

quietLogs();

const BLOCK = 16;
const WORKERS = [1, 2, 3, 4].map((i) => asWorkerId(`w${i}`));
const CACHE_BLOCKS = 600; // per worker: holds a few conversations, not all of them

let server: NatsServer;
before(async () => {
  server = await startNats();
});
after(async () => {
  await server?.stop();
});

interface TraceRequest {
  arrival: number;
  tokens: number[];
}

/**
 * 24 conversations of 4-7 turns under 4 shared system prompts (16 blocks each); each turn adds 6 blocks of
 * history and asks 2 new ones. Arrivals: one request per time unit, conversations interleaved at random.
 */
function generateTrace(seed: number): TraceRequest[] {
  const rng = new Mulberry32(seed);
  const sessions = Array.from({ length: 24 }, (_, s) => ({
    system: Array.from({ length: 16 * BLOCK }, (_, i) => (s % 4) * 1_000_000 + i),
    history: [] as number[],
    turnsLeft: 4 + rng.nextInt(4),
    id: s,
  }));
  const trace: TraceRequest[] = [];
  let time = 0;
  while (sessions.some((s) => s.turnsLeft > 0)) {
    const open = sessions.filter((s) => s.turnsLeft > 0);
    const session = open[rng.nextInt(open.length)]!;
    const turn = Array.from(
      { length: 2 * BLOCK },
      (_, i) => 10_000_000 + session.id * 100_000 + trace.length * 100 + i,
    );
    trace.push({ arrival: time++, tokens: [...session.system, ...session.history, ...turn, 7] });
    session.history.push(
      ...turn,
      ...Array.from({ length: 4 * BLOCK }, (_, i) => 50_000_000 + trace.length * 100 + i),
    );
    session.turnsLeft--;
  }
  return trace;
}

/** A worker's prefix cache: LRU over sequence hashes; each change becomes a KV event. */
class CacheModel {
  private readonly lru = new Map<string, true>();
  private eventId = 0;

  cachedPrefix(hashes: readonly string[]): number {
    let n = 0;
    while (n < hashes.length && this.lru.has(hashes[n]!)) n++;
    return n;
  }

  /** Cache a computed prompt; returns the KV events that say so (stored, then removed for evictions). */
  store(hashes: readonly string[]): KvCacheEvent[] {
    const events: KvCacheEvent[] = [];
    const fresh = hashes.filter((h) => !this.lru.has(h));
    for (const h of hashes) {
      this.lru.delete(h);
      this.lru.set(h, true);
    }
    if (fresh.length > 0) {
      const blocks = fresh.map((blockHash) => ({ blockHash, tokensHash: '0', tokenIds: [] }));
      events.push({ eventId: ++this.eventId, data: { type: 'stored', parentHash: null, blocks } });
    }
    const evicted: string[] = [];
    for (const h of this.lru.keys()) {
      if (this.lru.size - evicted.length <= CACHE_BLOCKS) break;
      evicted.push(h);
    }
    for (const h of evicted) this.lru.delete(h);
    if (evicted.length > 0)
      events.push({ eventId: ++this.eventId, data: { type: 'removed', blockHashes: evicted } });
    return events;
  }
}

interface Frontend {
  router: Router;
  bus: EventBus;
  sync: RouterReplicaSync | undefined;
}

async function frontends(count: number, sync: boolean): Promise<Frontend[]> {
  const scope = freshScope();
  const out: Frontend[] = [];
  for (let i = 0; i < count; i++) {
    const router = await createRouter({ router: 'kv', seed: 11, blockSize: BLOCK, decisionLog: 'off' });
    for (const workerId of WORKERS)
      router.addWorker({ workerId, blockSize: BLOCK, totalBlocks: CACHE_BLOCKS });
    const bus = await createEventBus({ backend: 'nats', natsServer: server.url });
    let replicaSync: RouterReplicaSync | undefined;
    if (sync) {
      replicaSync = new RouterReplicaSync({ bus, routerOf: () => router, log: getLogger('test') });
      replicaSync.attach(router);
      for (const workerId of WORKERS) await replicaSync.follow(scope, workerId);
    }
    out.push({ router, bus, sync: replicaSync });
  }
  return out;
}

/** Wait until every frontend has applied every change the others published. */
async function settle(fleet: Frontend[]): Promise<void> {
  if (fleet.length < 2 || fleet[0]!.sync === undefined) return;
  const published = fleet.map((f) => f.sync!.stats.published);
  const total = published.reduce((a, b) => a + b, 0);
  await retryUntil(
    () => undefined,
    () => fleet.every((f, i) => f.sync!.stats.applied + f.sync!.stats.ignored >= total - published[i]!),
    'replica changes applied',
    { everyMs: 2 },
  );
}

interface Quality {
  hitRate: number;
  spread: number;
}

async function runTrace(trace: TraceRequest[], fleet: Frontend[]): Promise<Quality> {
  const caches = new Map(WORKERS.map((w) => [w, new CacheModel()]));
  const inFlight = new Map(WORKERS.map((w) => [w, 0]));
  const running: { end: number; id: string; frontend: Frontend; workerId: WorkerId; hashes: string[] }[] = [];
  let hits = 0;
  let blocks = 0;
  let spread = 0;
  const finishUpTo = async (time: number) => {
    running.sort((a, b) => a.end - b.end);
    while (running.length > 0 && running[0]!.end <= time) {
      const done = running.shift()!;
      done.frontend.router.markPrefillDone(done.id);
      done.frontend.router.finishRequest(done.id);
      inFlight.set(done.workerId, inFlight.get(done.workerId)! - 1);
      for (const event of caches.get(done.workerId)!.store(done.hashes)) {
        for (const f of fleet) f.router.applyKvEvent(done.workerId, event);
      }
    }
    await settle(fleet);
  };
  for (const [i, request] of trace.entries()) {
    await finishUpTo(request.arrival);
    const frontend = fleet[i % fleet.length]!;
    const id = `r${i}`;
    const { workerId } = frontend.router.route({ requestId: id, tokenIds: request.tokens });
    const hashes = computeBlockHashes(request.tokens, BLOCK).sequence.map(hashToWire);
    const hit = caches.get(workerId)!.cachedPrefix(hashes);
    hits += hit;
    blocks += hashes.length;
    spread += inFlight.get(workerId)! - Math.min(...inFlight.values());
    inFlight.set(workerId, inFlight.get(workerId)! + 1);
    // Service time: prefill of the uncached blocks (8 per time unit) + a fixed decode (~12 requests in flight).
    running.push({ end: request.arrival + (hashes.length - hit) / 8 + 12, id, frontend, workerId, hashes });
    await settle(fleet);
  }
  await finishUpTo(Number.POSITIVE_INFINITY);
  return { hitRate: hits / blocks, spread: spread / trace.length };
}

async function measure(trace: TraceRequest[], count: number, sync: boolean): Promise<Quality> {
  const fleet = await frontends(count, sync);
  try {
    return await runTrace(trace, fleet);
  } finally {
    for (const f of fleet) {
      await f.sync?.close();
      await f.bus.close();
    }
  }
}

it('two synced frontends route a conversation trace within 10 % of one frontend; unsynced ones hit less', async () => {
  const trace = generateTrace(5);
  const one = await measure(trace, 1, false);
  const synced = await measure(trace, 2, true);
  const unsynced = await measure(trace, 2, false);
  getLogger('test').warn('replica sync on a generated trace', {
    requests: trace.length,
    oneFrontend: one,
    twoSynced: synced,
    twoUnsynced: unsynced,
  });
  assert.ok(synced.hitRate >= 0.9 * one.hitRate, `hit rate ${synced.hitRate} vs ${one.hitRate}`);
  assert.ok(synced.spread <= 1.1 * one.spread + 0.05, `spread ${synced.spread} vs ${one.spread}`);
  assert.ok(
    unsynced.hitRate < synced.hitRate,
    `unsynced hit rate ${unsynced.hitRate} vs synced ${synced.hitRate}`,
  );
});
