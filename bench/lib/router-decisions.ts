/**
 * `bench:router`'s decision measurements over a built index (`router-index.ts`): per-decision latency
 * (wall and process CPU time), CPU per request, and the heap bytes one decision allocates. Each measurement
 * routes every request through a fresh `Router` over the shared index (a fresh in-flight ledger), keeping a
 * window of 4 requests per worker in flight (the oldest gets its first token and ends as a new one comes).
 */
import { performance } from 'node:perf_hooks';
import type { SequenceHash } from '../../src/protocols/ids.ts';
import { type BuiltinPolicyName, createBuiltinPolicy, Router } from '../../src/router/index.ts';
import { BLOCK_SIZE, type BuiltIndex } from './router-index.ts';

export interface DecisionStats {
  p50: number;
  p99: number;
  p999: number;
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

const tokenArrays = new Map<number, number[]>();
const tokensOfLength = (n: number) => tokenArrays.get(n) ?? tokenArrays.set(n, new Array(n).fill(0)).get(n)!;

/** What a measurement routes with: a built-in policy (seeded), with or without its decision log built. */
export interface DecisionSetup {
  policy: BuiltinPolicyName;
  explain: boolean;
  seed: number;
}

/** A router over the built index with a fresh in-flight ledger, as `measureDecisions` uses it. */
function decisionRouter(built: BuiltIndex, { policy, explain, seed }: DecisionSetup): Router {
  const router = new Router({
    policy: createBuiltinPolicy(policy, { seed }),
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

/** Routes `requests` in order with a window of 4 per worker in flight; `each` wraps every `route` call. */
function routeAll(
  router: Router,
  numWorkers: number,
  requests: readonly SequenceHash[][],
  each: (i: number, route: () => number) => void,
): void {
  const window: string[] = [];
  requests.forEach((blockHashes, i) => {
    const requestId = `r${i}`;
    const tokenIds = tokensOfLength(blockHashes.length * BLOCK_SIZE + 5);
    each(i, () => router.route({ requestId, tokenIds, blockHashes }).overlapBlocks);
    window.push(requestId);
    if (window.length > 4 * numWorkers) {
      const done = window.shift()!;
      router.markPrefillDone(done);
      router.finishRequest(done);
    }
  });
}

/** The `q`th percentile of sorted `values`. */
const percentile = (values: readonly number[], q: number) =>
  values[Math.min(values.length - 1, Math.floor((q / 100) * values.length))]!;

/** Route every request, keeping a window of 4 per worker in flight; returns per-decision µs. */
export function measureDecisions(
  built: BuiltIndex,
  requests: readonly SequenceHash[][],
  setup: DecisionSetup,
): DecisionStats {
  const router = decisionRouter(built, setup);
  const micros: number[] = [];
  const cpuEach: number[] = [];
  const probe = cpuProbeMicros();
  let overlap = 0;
  const warmup = Math.min(500, Math.floor(requests.length / 10));
  let cpu0 = process.cpuUsage();
  routeAll(router, built.workers.length, requests, (i, route) => {
    if (i === warmup) cpu0 = process.cpuUsage();
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    const overlapBlocks = route();
    const elapsed = (performance.now() - t0) * 1000;
    const c = process.cpuUsage(c0);
    if (i < warmup) return;
    micros.push(elapsed);
    cpuEach.push(Math.max(0, c.user + c.system - probe));
    overlap += overlapBlocks;
  });
  const cpu = process.cpuUsage(cpu0);
  micros.sort((a, b) => a - b);
  cpuEach.sort((a, b) => a - b);
  return {
    p50: percentile(micros, 50),
    p99: percentile(micros, 99),
    p999: percentile(micros, 99.9),
    meanOverlap: overlap / micros.length,
    cpuMicros: (cpu.user + cpu.system) / micros.length,
    cpuP50: percentile(cpuEach, 50),
    cpuP99: percentile(cpuEach, 99),
  };
}

/**
 * Heap bytes one decision allocates (the young generation's food: every scavenge lands on some decision),
 * median over the requests: the heap's growth across `route`, less what reading it costs; a decision during
 * which a scavenge ran (the heap shrank) is skipped.
 */
export function allocatedBytesPerDecision(
  built: BuiltIndex,
  requests: readonly SequenceHash[][],
  setup: DecisionSetup,
): number {
  const router = decisionRouter(built, { ...setup, explain: false });
  const heap = () => process.memoryUsage().heapUsed;
  const probes: number[] = [];
  for (let i = 0; i < 201; i++) {
    const h0 = heap();
    probes.push(heap() - h0);
  }
  const probe = probes.sort((a, b) => a - b)[100]!;
  const bytes: number[] = [];
  routeAll(router, built.workers.length, requests, (_, route) => {
    const h0 = heap();
    route();
    const grown = heap() - h0 - probe;
    if (grown >= 0) bytes.push(grown);
  });
  return bytes.sort((a, b) => a - b)[Math.floor(bytes.length / 2)] ?? 0;
}

/** Decision latency right after the CPU caches were flushed, µs: what a router that was preempted sees. */
export interface ColdDecisionStats {
  p50: number;
  p99: number;
}

/** Bytes written between two cold decisions: more than the last-level cache of the machines we run on. */
const FLUSH_BYTES = 64 << 20;
let flushBuffer: Float64Array | undefined;
/** Written by every flush (a module variable: the flushing loop cannot be optimized away). */
let _flushSink = 0;

/** Evict the caches (and the TLB's entries for the router's memory) by walking a buffer larger than them. */
function flushCaches(): void {
  flushBuffer ??= new Float64Array(FLUSH_BYTES / 8);
  for (let i = 0; i < flushBuffer.length; i += 8) _flushSink += flushBuffer[i]!++;
}

/**
 * Every `every`th decision timed right after flushing the caches (the rest keep the window moving): on a
 * shared or busy machine the router is preempted between decisions, and the tail of its latency is the
 * cost of a decision whose index lines, per-worker state and code all come from memory again. This
 * measures that cost directly, independent of the machine's load.
 */
export function measureColdDecisions(
  built: BuiltIndex,
  requests: readonly SequenceHash[][],
  setup: DecisionSetup,
  every = 8,
): ColdDecisionStats {
  const router = decisionRouter(built, setup);
  const micros: number[] = [];
  const warmup = Math.min(500, Math.floor(requests.length / 10));
  routeAll(router, built.workers.length, requests, (i, route) => {
    if (i < warmup || i % every !== 0) {
      route();
      return;
    }
    flushCaches();
    const t0 = performance.now();
    route();
    micros.push((performance.now() - t0) * 1000);
  });
  micros.sort((a, b) => a - b);
  return { p50: percentile(micros, 50), p99: percentile(micros, 99) };
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

/** The round with the lowest wall p99 of `n`: other processes and GC only ever add time. */
export function bestOf(n: number, measure: () => DecisionStats): DecisionStats {
  const runs = Array.from({ length: n }, measure);
  return runs.reduce((best, run) => (run.p99 < best.p99 ? run : best));
}
