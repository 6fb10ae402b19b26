/**
 * What the dashboard shows that Prometheus counters cannot: the last few minutes as a time series
 * (TTFT and ITL percentiles, requests and errors per 5-second bucket), the last routing decisions with
 * their cost arithmetic, and each worker's prefix-cache hit rate as this frontend saw it. Like a router's
 * "show ip route" plus its recent flow log: bounded memory (a fixed window of buckets, at most
 * SAMPLES_PER_BUCKET latency samples each, kept by reservoir sampling), O(1) work per token.
 */
import type { RouteResult } from '../../router/index.ts';

const SAMPLES_PER_BUCKET = 2000;

interface Bucket {
  start: number;
  ttft: number[];
  itl: number[];
  ttftSeen: number;
  itlSeen: number;
  requests: number;
  errors: number;
}

/** One bucket's numbers, as the dashboard's JSON carries them (ms; null = no sample). */
export interface ActivityPoint {
  t: number;
  ttftP50: number | null;
  ttftP99: number | null;
  itlP50: number | null;
  itlP99: number | null;
  requests: number;
  errors: number;
}

export interface DecisionRecord {
  at: number;
  model: string;
  requestId: string;
  workerId: string;
  reason: string;
  promptTokens: number;
  overlapBlocks: number;
  candidates: Array<{ workerId: string; cost: number; formula?: string }>;
}

export interface WorkerTally {
  requests: number;
  promptTokens: number;
  cachedTokens: number;
}

export interface RecentActivityOptions {
  bucketMs?: number;
  windowMs?: number;
  decisions?: number;
  now?: () => number;
}

export class RecentActivity {
  readonly bucketMs: number;
  private readonly windowMs: number;
  private readonly maxDecisions: number;
  private readonly now: () => number;
  private readonly buckets: Bucket[] = [];
  private readonly decisions: DecisionRecord[] = [];
  private readonly workers = new Map<string, WorkerTally>();
  migrations = 0;

  constructor(options: RecentActivityOptions = {}) {
    this.bucketMs = options.bucketMs ?? 5000;
    this.windowMs = options.windowMs ?? 10 * 60_000;
    this.maxDecisions = options.decisions ?? 25;
    this.now = options.now ?? Date.now;
  }

  /** A token reached the client: the first is a TTFT sample, later ones inter-token gaps (ms). */
  token(first: boolean, ms: number): void {
    const b = this.current();
    if (first) b.ttftSeen = keepSample(b.ttft, b.ttftSeen, ms);
    else b.itlSeen = keepSample(b.itl, b.itlSeen, ms);
  }

  requestEnded(failed: boolean): void {
    const b = this.current();
    b.requests++;
    if (failed) b.errors++;
  }

  routed(model: string, requestId: string, route: RouteResult, promptTokens: number): void {
    this.decisions.push({
      at: this.now(),
      model,
      requestId,
      workerId: route.workerId,
      reason: route.decision.reason,
      promptTokens,
      overlapBlocks: route.overlapBlocks,
      candidates: (route.decision.scores ?? []).map((s) => ({
        workerId: s.workerId,
        cost: s.cost,
        ...(s.formula === undefined ? {} : { formula: s.formula }),
      })),
    });
    if (this.decisions.length > this.maxDecisions) this.decisions.shift();
  }

  /** A request finished on `workerId`: its prompt and the part of it the worker's prefix cache served. */
  served(workerId: string, promptTokens: number, cachedTokens: number): void {
    const tally = this.workers.get(workerId) ?? { requests: 0, promptTokens: 0, cachedTokens: 0 };
    tally.requests++;
    tally.promptTokens += promptTokens;
    tally.cachedTokens += cachedTokens;
    this.workers.set(workerId, tally);
  }

  migrated(): void {
    this.migrations++;
  }

  workerTally(workerId: string): WorkerTally | undefined {
    return this.workers.get(workerId);
  }

  /** The window's buckets, oldest first (empty buckets included, so the time axis is even). */
  series(): ActivityPoint[] {
    this.current();
    return this.buckets.map((b) => {
      const ttft = Float64Array.from(b.ttft).sort();
      const itl = Float64Array.from(b.itl).sort();
      return {
        t: b.start,
        ttftP50: quantile(ttft, 0.5),
        ttftP99: quantile(ttft, 0.99),
        itlP50: quantile(itl, 0.5),
        itlP99: quantile(itl, 0.99),
        requests: b.requests,
        errors: b.errors,
      };
    });
  }

  recentDecisions(): readonly DecisionRecord[] {
    return [...this.decisions].reverse();
  }

  /** The bucket for now, creating empty ones for any gap and dropping those past the window. */
  private current(): Bucket {
    const start = Math.floor(this.now() / this.bucketMs) * this.bucketMs;
    let last = this.buckets.at(-1);
    if (last === undefined || last.start < start) {
      let next = last === undefined ? start : Math.max(last.start + this.bucketMs, start - this.windowMs);
      for (; next <= start; next += this.bucketMs) {
        last = { start: next, ttft: [], itl: [], ttftSeen: 0, itlSeen: 0, requests: 0, errors: 0 };
        this.buckets.push(last);
      }
      while (this.buckets.length > 0 && this.buckets[0]!.start <= start - this.windowMs) this.buckets.shift();
    }
    return last!;
  }
}

/** Reservoir sampling (algorithm R): every sample has an equal chance to be kept, memory stays bounded. */
function keepSample(samples: number[], seen: number, value: number): number {
  if (samples.length < SAMPLES_PER_BUCKET) samples.push(value);
  else {
    const j = Math.floor(Math.random() * (seen + 1));
    if (j < SAMPLES_PER_BUCKET) samples[j] = value;
  }
  return seen + 1;
}

function quantile(sorted: Float64Array, q: number): number | null {
  if (sorted.length === 0) return null;
  const rank = q * (sorted.length - 1);
  const lo = Math.floor(rank);
  const hi = Math.ceil(rank);
  return Math.round((sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (rank - lo)) * 100) / 100;
}
