/**
 * `npm run bench:router`: how fast is the KV router's decision, and how much memory does its index take?
 *
 * For each (workers, indexed blocks) configuration:
 *   1. build the index the way a live router does, by applying `stored` KV events (16 blocks each, wire
 *      form: decimal-string hashes) from a synthetic cache population; time only `applyEvent` (events/s);
 *   2. route requests with realistic prefix reuse (70 % continue a cached conversation, 20 % start a new
 *      conversation under a shared system prompt, 10 % are new) through `Router.route` with the `kv` policy
 *      and precomputed block hashes; time each decision (p50/p99, µs, wall and process CPU time), with the decision log off and with
 *      its fields built ("explain"), and the process CPU time per request (route + first token + end), and
 *      the heap bytes one decision allocates (median; what feeds the young generation's scavenges);
 *   3. report the index's memory per indexed (worker, block) entry: live heap + array buffers after a full
 *      GC, before and after applying the events (needs `--expose-gc`, which `npm run bench:router` passes),
 *      and heap and RSS after the build.
 * Indexing speed is reported per wall second and per CPU second of the process (the box may be shared).
 * Prompt hashing (tokens/block-hash.ts, XXH3 in WASM) is timed separately: it is not the router's cost.
 * Goals (issue 12): ≥ 1M stored blocks/s, decision p99 ≤ 50 µs at 64 workers / 1M blocks, ≤ 100 bytes per
 * indexed block. Tests never assert timings.
 *
 * Each measurement is repeated `--rounds` times and the round with the lowest p99 is reported: on a shared
 * machine, other processes and GC only ever add time, so the best round is the closest to the router's own cost.
 *
 * Options: --workers 8,64  --blocks 10000,1000000  --requests 5000  --rounds 3  --seed 1  --smoke (tiny, for CI)
 */
import { cpus, loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { asWorkerId, type SequenceHash, type WorkerId } from '../src/protocols/ids.ts';
import { hashToWire, type KvCacheEvent } from '../src/protocols/kv-events.ts';
import { KvPolicy, Router } from '../src/router/index.ts';
import { Mulberry32 } from '../src/util/prng.ts';
import { computeBlockHashes } from '../src/tokens/block-hash.ts';
import { configureLogging } from '../src/util/logger.ts';
import { startProgress } from '../src/util/progress.ts';

const BLOCK_SIZE = 16;
const BLOCKS_PER_EVENT = 16;
const SYSTEM_BLOCKS = 8; // a 128-token system prompt shared by a family of conversations
const FAMILIES = 32;

const { values } = parseArgs({
  options: {
    workers: { type: 'string', default: '8,64' },
    blocks: { type: 'string', default: '10000,1000000' },
    requests: { type: 'string', default: '5000' },
    rounds: { type: 'string', default: '3' },
    seed: { type: 'string', default: '1' },
    smoke: { type: 'boolean', default: false },
  },
});
const smoke = values.smoke!;
const workerCounts = smoke ? [4, 16] : intList('workers', values.workers!);
const blockCounts = smoke ? [2000] : intList('blocks', values.blocks!);
const numRequests = smoke ? 200 : intList('requests', values.requests!)[0]!;
const rounds = smoke ? 1 : intList('rounds', values.rounds!)[0]!;
const seed = Number(values.seed);

function intList(flag: string, text: string): number[] {
  const list = text.split(',').map((s) => Number(s.trim()));
  if (list.some((n) => !Number.isInteger(n) || n < 1)) {
    throw new RangeError(`--${flag} needs positive integers separated by commas, got "${text}"`);
  }
  return list;
}

// ---- synthetic block hashes: chained like sequence hashes, cheap to regenerate ---------------------------

const U64 = (1n << 64n) - 1n;
/** splitmix64 finalizer over (parent, salt): a stand-in for XXH3 chaining, same statistics for a map. */
function chain(parent: bigint, salt: number): SequenceHash {
  let z = (parent ^ (BigInt(salt) * 0x9e3779b97f4a7c15n)) & U64;
  z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & U64;
  z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & U64;
  return (z ^ (z >> 31n)) as SequenceHash;
}

function chainFrom(prefix: readonly SequenceHash[], salt: number, count: number): SequenceHash[] {
  const out = [...prefix];
  let last = prefix.at(-1) ?? 0n;
  for (let i = 0; i < count; i++) out.push((last = chain(last, salt * 1024 + i)));
  return out;
}

const systemPrompts = Array.from({ length: FAMILIES }, (_, f) => chainFrom([], 1_000_000 + f, SYSTEM_BLOCKS));

/** A cached conversation: family system prompt + `bodyBlocks` of its own, cached on `homes`. */
interface Conversation {
  id: number;
  family: number;
  bodyBlocks: number;
  homes: WorkerId[];
}

const conversationHashes = (c: Conversation) => chainFrom(systemPrompts[c.family]!, c.id, c.bodyBlocks);

/** Stored events (≤ 16 blocks each, parent-linked) announcing `hashes` on one worker. */
function storedEvents(hashes: readonly SequenceHash[], firstEventId: number): KvCacheEvent[] {
  const events: KvCacheEvent[] = [];
  for (let start = 0; start < hashes.length; start += BLOCKS_PER_EVENT) {
    const blocks = hashes.slice(start, start + BLOCKS_PER_EVENT).map((h) => ({
      blockHash: hashToWire(h),
      tokensHash: '0',
      tokenIds: [] as number[],
    }));
    const parentHash = start === 0 ? null : hashToWire(hashes[start - 1]!);
    events.push({ eventId: firstEventId + events.length, data: { type: 'stored', parentHash, blocks } });
  }
  return events;
}

interface BuiltIndex {
  router: Router;
  workers: WorkerId[];
  conversations: Conversation[];
  indexedBlocks: number;
  events: number;
  applySeconds: number;
  /** CPU time (user + system) spent applying the events: what a shared machine's load does not inflate. */
  applyCpuSeconds: number;
  /** Heap + array-buffer growth from applying the events, after a full GC; undefined without --expose-gc. */
  indexBytes: number | undefined;
}

const gc = (globalThis as { gc?: () => void }).gc;
/** Live heap plus typed-array backing stores (the index's table lives outside the JS heap). */
function liveBytes(): number | undefined {
  if (gc === undefined) return undefined;
  gc();
  gc();
  const usage = process.memoryUsage();
  return usage.heapUsed + usage.arrayBuffers;
}

/**
 * Populate a router's index with ≈ `targetBlocks` (worker, block) entries via stored events. The events
 * are generated first and applied afterwards, so the timing and the memory delta are the indexer's alone.
 */
function buildIndex(numWorkers: number, targetBlocks: number, rng: Mulberry32): BuiltIndex {
  const router = new Router({ policy: new KvPolicy({ seed }), blockSize: BLOCK_SIZE, decisionLog: 'off' });
  const workers = Array.from({ length: numWorkers }, (_, i) => asWorkerId(`worker-${i}`));
  for (const workerId of workers) router.addWorker({ workerId, blockSize: BLOCK_SIZE, totalBlocks: 1 << 20 });
  const nextEventId = new Map(workers.map((w) => [w, 1]));
  const held = new Map(workers.map((w) => [w, new Set<SequenceHash>()]));
  const conversations: Conversation[] = [];
  const batches: { workerId: WorkerId; events: KvCacheEvent[] }[] = [];
  let indexedBlocks = 0;
  let events = 0;
  while (indexedBlocks < targetBlocks) {
    const home = workers[rng.nextInt(numWorkers)]!;
    const homes = rng.nextFloat() < 0.2 ? [home, workers[rng.nextInt(numWorkers)]!] : [home];
    const conversation = {
      id: conversations.length,
      family: rng.nextInt(FAMILIES),
      bodyBlocks: 16 + rng.nextInt(49),
      homes,
    };
    conversations.push(conversation);
    const hashes = conversationHashes(conversation);
    for (const workerId of new Set(homes)) {
      const batch = storedEvents(hashes, nextEventId.get(workerId)!);
      nextEventId.set(workerId, nextEventId.get(workerId)! + batch.length);
      const set = held.get(workerId)!;
      for (const hash of hashes) {
        if (set.has(hash)) continue;
        set.add(hash);
        indexedBlocks++;
      }
      batches.push({ workerId, events: batch });
      events += batch.length;
    }
  }
  held.clear();
  const before = liveBytes();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  for (const { workerId, events: batch } of batches) {
    for (const event of batch) router.applyKvEvent(workerId, event);
  }
  const applySeconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const applyCpuSeconds = (cpu.user + cpu.system) / 1e6;
  const after = liveBytes(); // the events are still referenced: only the index grew
  batches.length = 0;
  const indexBytes = before === undefined || after === undefined ? undefined : after - before;
  const counted = workers.reduce((sum, w) => sum + router.indexer.workerBlockCount(w), 0);
  if (counted !== indexedBlocks) throw new Error(`index holds ${counted} blocks, expected ${indexedBlocks}`);
  return { router, workers, conversations, indexedBlocks, events, applySeconds, applyCpuSeconds, indexBytes };
}

/** Request mix: continue a cached conversation (70 %), new conversation in a family (20 %), new (10 %). */
function makeRequests(built: BuiltIndex, count: number, rng: Mulberry32): SequenceHash[][] {
  const requests: SequenceHash[][] = [];
  for (let i = 0; i < count; i++) {
    const roll = rng.nextFloat();
    const salt = 50_000_000 + i;
    if (roll < 0.7) {
      const c = built.conversations[rng.nextInt(built.conversations.length)]!;
      requests.push(chainFrom(conversationHashes(c), salt, rng.nextInt(9)));
    } else if (roll < 0.9) {
      requests.push(chainFrom(systemPrompts[rng.nextInt(FAMILIES)]!, salt, 16 + rng.nextInt(49)));
    } else {
      requests.push(chainFrom([], salt, 24 + rng.nextInt(49)));
    }
  }
  return requests;
}

const tokenArrays = new Map<number, number[]>();
const tokensOfLength = (n: number) => tokenArrays.get(n) ?? tokenArrays.set(n, new Array(n).fill(0)).get(n)!;

interface DecisionStats {
  p50: number;
  p99: number;
  meanOverlap: number;
  /** Process CPU time per request (route + prefill done + finish), µs: less inflated by a loaded machine. */
  cpuMicros: number;
  /**
   * Percentiles of each decision's process CPU time (getrusage around `route`, µs resolution, less the
   * cost of the two calls): what the decision costs when the scheduler does not take the core away
   * mid-decision. Wall percentiles on a loaded box are mostly preemption.
   */
  cpuP50: number;
  cpuP99: number;
}

/** A router over the built index with a fresh in-flight ledger, as `measureDecisions` uses it. */
function decisionRouter(built: BuiltIndex, explain: boolean): Router {
  const router = new Router({
    policy: new KvPolicy({ seed }),
    blockSize: BLOCK_SIZE,
    decisionLog: explain ? 'debug' : 'off', // debug lines are built, then dropped (this bench logs at warn)
    indexer: built.router.indexer, // the built index, with a fresh in-flight ledger
    // Routed requests get no KV events here; live, their events confirm the predicted blocks within
    // milliseconds of the prefill. Grace 0 stands in for that: the overlay holds the in-flight window only.
    predictionGraceMs: 0,
  });
  for (const workerId of built.workers)
    router.addWorker({ workerId, blockSize: BLOCK_SIZE, totalBlocks: 1 << 20 });
  return router;
}

/** Route every request, keeping a window of 4 per worker in flight; returns per-decision µs. */
function measureDecisions(
  built: BuiltIndex,
  requests: readonly SequenceHash[][],
  explain: boolean,
): DecisionStats {
  const router = decisionRouter(built, explain);
  const window: string[] = [];
  const micros: number[] = [];
  const cpuEach: number[] = [];
  const probe = cpuProbeMicros();
  let overlap = 0;
  const warmup = Math.min(500, Math.floor(requests.length / 10));
  let cpu0 = process.cpuUsage();
  requests.forEach((blockHashes, i) => {
    if (i === warmup) cpu0 = process.cpuUsage();
    const requestId = `r${i}`;
    const tokenIds = tokensOfLength(blockHashes.length * BLOCK_SIZE + 5);
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    const result = router.route({ requestId, tokenIds, blockHashes });
    const elapsed = (performance.now() - t0) * 1000;
    const c = process.cpuUsage(c0);
    if (i >= warmup) {
      micros.push(elapsed);
      cpuEach.push(Math.max(0, c.user + c.system - probe));
      overlap += result.overlapBlocks;
    }
    window.push(requestId);
    if (window.length > 4 * built.workers.length) {
      const done = window.shift()!;
      router.markPrefillDone(done);
      router.finishRequest(done);
    }
  });
  const cpu = process.cpuUsage(cpu0);
  micros.sort((a, b) => a - b);
  const pct = (q: number) => micros[Math.min(micros.length - 1, Math.floor((q / 100) * micros.length))]!;
  const cpuMicros = (cpu.user + cpu.system) / micros.length;
  cpuEach.sort((a, b) => a - b);
  const cpuPct = (q: number) =>
    cpuEach[Math.min(cpuEach.length - 1, Math.floor((q / 100) * cpuEach.length))]!;
  return {
    p50: pct(50),
    p99: pct(99),
    meanOverlap: overlap / micros.length,
    cpuMicros,
    cpuP50: cpuPct(50),
    cpuP99: cpuPct(99),
  };
}

/**
 * Heap bytes one decision allocates (the young generation's food: every scavenge lands on some decision),
 * median over the requests: the heap's growth across `route`, less what reading it costs; a decision during
 * which a scavenge ran (the heap shrank) is skipped.
 */
function allocatedBytesPerDecision(built: BuiltIndex, requests: readonly SequenceHash[][]): number {
  const router = decisionRouter(built, false);
  const heap = () => process.memoryUsage().heapUsed;
  const probes: number[] = [];
  for (let i = 0; i < 201; i++) {
    const h0 = heap();
    probes.push(heap() - h0);
  }
  const probe = probes.sort((a, b) => a - b)[100]!;
  const window: string[] = [];
  const bytes: number[] = [];
  requests.forEach((blockHashes, i) => {
    const requestId = `r${i}`;
    const tokenIds = tokensOfLength(blockHashes.length * BLOCK_SIZE + 5);
    const h0 = heap();
    router.route({ requestId, tokenIds, blockHashes });
    const grown = heap() - h0 - probe;
    if (grown >= 0) bytes.push(grown);
    window.push(requestId);
    if (window.length > 4 * built.workers.length) {
      const done = window.shift()!;
      router.markPrefillDone(done);
      router.finishRequest(done);
    }
  });
  return bytes.sort((a, b) => a - b)[Math.floor(bytes.length / 2)] ?? 0;
}

/** Median CPU time that two back-to-back `process.cpuUsage` calls report: subtracted from each decision's. */
function cpuProbeMicros(): number {
  const samples: number[] = [];
  for (let i = 0; i < 1001; i++) {
    const c0 = process.cpuUsage();
    const c = process.cpuUsage(c0);
    samples.push(c.user + c.system);
  }
  return samples.sort((a, b) => a - b)[500]!;
}

function bestOf(n: number, measure: () => DecisionStats): DecisionStats {
  const runs = Array.from({ length: n }, measure);
  return runs.reduce((best, run) => (run.p99 < best.p99 ? run : best));
}

function hashingMicrosPer1kTokens(): number {
  const prompt = Array.from({ length: 1024 }, (_, i) => (i * 7919) % 32000);
  for (let i = 0; i < 200; i++) computeBlockHashes(prompt, BLOCK_SIZE);
  const n = smoke ? 50 : 2000;
  const t0 = performance.now();
  for (let i = 0; i < n; i++) computeBlockHashes(prompt, BLOCK_SIZE);
  return ((performance.now() - t0) * 1000) / n;
}

configureLogging({ level: 'warn' }); // no per-worker 'worker added' lines in the report

const mib = (bytes: number) => (bytes / 1024 / 1024).toFixed(0);
const f1 = (x: number) => x.toFixed(1);

console.log(
  `machine: ${cpus().length} cores (${cpus()[0]?.model.trim() ?? 'unknown CPU'}), node ${process.version}, load ${loadavg()[0]!.toFixed(2)}`,
);
console.log(
  `router:  kv policy (weight 1.0, T 0), block size ${BLOCK_SIZE}, ${numRequests} requests per row, best of ${rounds} round(s)${smoke ? ' (smoke)' : ''}\n`,
);
const rssBefore = process.memoryUsage().rss;
const rows: string[] = [];
// One step per table row (building a 1M-block index takes seconds); nothing per decision, which is measured.
const progress = startProgress({
  label: 'bench:router',
  total: blockCounts.length * workerCounts.length,
  unit: 'rows',
});
for (const numBlocks of blockCounts) {
  for (const numWorkers of workerCounts) {
    const rng = new Mulberry32(seed * 7919 + numWorkers);
    const built = buildIndex(numWorkers, numBlocks, rng);
    const memory = process.memoryUsage();
    const requests = makeRequests(built, numRequests, rng);
    const plain = bestOf(rounds, () => measureDecisions(built, requests, false));
    const explained = bestOf(rounds, () => measureDecisions(built, requests, true));
    const allocated = allocatedBytesPerDecision(built, requests);
    const stats = built.router.indexer.stats();
    rows.push(
      `| ${numWorkers} | ${built.indexedBlocks} | ${stats.blocks} | ${(built.events / built.applySeconds).toFixed(0)} | ` +
        `${(built.indexedBlocks / built.applySeconds).toFixed(0)} | ${(built.indexedBlocks / built.applyCpuSeconds).toFixed(0)} | ` +
        `${f1(plain.p50)} | ${f1(plain.p99)} | ${f1(plain.cpuP50)} | ${f1(plain.cpuP99)} | ${f1(plain.cpuMicros)} | ${allocated} | ` +
        `${f1(explained.p50)} | ${f1(explained.p99)} | ${f1(plain.meanOverlap)} | ` +
        `${built.indexBytes === undefined ? 'n/a' : (built.indexBytes / built.indexedBlocks).toFixed(0)} / ` +
        `${(built.router.indexer.blocks.tableBytes / built.indexedBlocks).toFixed(0)} | ` +
        `${mib(memory.heapUsed)} | ${mib(memory.rss)} |`,
    );
    progress.increment(1, `${numWorkers} workers, ${numBlocks} blocks`);
  }
}
progress.stop();
console.log(
  '| workers | indexed blocks | distinct blocks | events/s (16 blocks) | stored blocks/s | stored blocks/CPU-s | ' +
    'decision p50 µs | decision p99 µs | decision CPU p50 µs | decision CPU p99 µs | CPU µs per request | heap bytes per decision | explain p50 µs | explain p99 µs | mean overlap blocks | ' +
    'bytes per indexed block (live memory Δ / table) | heap MiB | RSS MiB |',
);
console.log(`|${'---:|'.repeat(18)}`);
for (const row of rows) console.log(row);
console.log(
  `\nRSS before building any index: ${mib(rssBefore)} MiB (heap and RSS columns are measured after each build; earlier indexes may not be collected yet)`,
);
console.log(
  `prompt hashing (tokens/block-hash.ts, not part of the decision): ${f1(hashingMicrosPer1kTokens())} µs per 1024-token prompt`,
);
if (gc === undefined)
  console.log('bytes per indexed block: n/a (run node with --expose-gc, as `npm run bench:router` does)');
console.log(
  `goals at 64 workers / 1M blocks: ≥ 1M stored blocks/s, decision p99 ≤ 50 µs, ≤ 100 bytes per indexed block ` +
    `(load average at the end: ${loadavg()[0]!.toFixed(2)})`,
);
