/**
 * The hit-rate CEILING of a trace: what one node holding the whole cluster's KV capacity would hit with an
 * LRU prefix cache, and what an infinite cache would hit. No router can beat the first by much (it would
 * need a cache bigger than the cluster's) and none can beat the second. Like a CDN's "ideal hit ratio"
 * (one infinitely large cache in front of everything): the yardstick against which a load balancer's
 * cache affinity is judged.
 *
 * Computed from the trace's hash_ids at the ENGINE block size, as the engines cache: engine block k of a
 * prompt is identified by the id of the trace block holding its last token and where in that trace block
 * it ends (trace ids are chained, so that id names the whole prefix up to it). A request hits its longest
 * run of leading blocks that are cached, never the whole prompt (the engine computes at least the last
 * token: at most ⌊(input − 1)/blockSize⌋ blocks), then all its full prompt blocks become the most recent.
 * Requests are taken in arrival order, one at a time: blocks pinned by running requests and the blocks of
 * generated tokens (which never match a later trace prompt) are not modelled, so a real node hits less.
 */
export interface CacheCeiling {
  /** KV capacity of the one node, tokens (cluster: workers × blocks per worker × block size). */
  capacityTokens: number;
  /** Cached prompt tokens ÷ prompt tokens with LRU at that capacity. */
  lruHitRate: number;
  /** The same with a cache that never evicts. */
  infiniteHitRate: number;
}

export interface CeilingOptions {
  /** Engine tokens per KV block. */
  blockSize: number;
  /** Tokens per trace hash id. */
  traceBlockSize: number;
  /** Engine blocks the one node holds. */
  capacityBlocks: number;
}

interface CeilingRequest {
  inputLength: number;
  hashIds: readonly number[];
}

const memo = new WeakMap<readonly CeilingRequest[], Map<string, CacheCeiling>>();

/**
 * `cacheCeiling`, remembered per trace array and options: every policy of a `--compare` (and every run of
 * a benchmark) replays the same trace, and the ceiling does not depend on the policy.
 */
export function traceCeiling(trace: readonly CeilingRequest[], o: CeilingOptions): CacheCeiling {
  let byOptions = memo.get(trace);
  if (byOptions === undefined) memo.set(trace, (byOptions = new Map()));
  const key = `${o.blockSize}/${o.traceBlockSize}/${o.capacityBlocks}`;
  let ceiling = byOptions.get(key);
  if (ceiling === undefined) byOptions.set(key, (ceiling = cacheCeiling(trace, o)));
  return ceiling;
}

export function cacheCeiling(trace: readonly CeilingRequest[], o: CeilingOptions): CacheCeiling {
  const prompt = trace.reduce((sum, r) => sum + r.inputLength, 0);
  const rate = (hits: Float64Array) => {
    let blocks = 0;
    for (const h of hits) blocks += h;
    return prompt === 0 ? 0 : (blocks * o.blockSize) / prompt;
  };
  return {
    capacityTokens: o.capacityBlocks * o.blockSize,
    lruHitRate: rate(requestHitBlocks(trace, o, o.capacityBlocks)),
    infiniteHitRate: rate(requestHitBlocks(trace, o, Number.POSITIVE_INFINITY)),
  };
}

/**
 * Engine blocks each request hits (index = position in `trace`) in one node's LRU prefix cache of
 * `capacityBlocks` engine blocks (Infinity: a cache that never evicts). The per-request view behind the
 * ceiling; `ttft-bound.ts` turns it into each request's uncached prefill.
 */
export function requestHitBlocks(
  trace: readonly CeilingRequest[],
  o: Omit<CeilingOptions, 'capacityBlocks'>,
  capacityBlocks: number,
): Float64Array {
  const hits = new Float64Array(trace.length);
  const count = o.traceBlockSize % o.blockSize === 0 ? traceBlockHits : engineBlockHits;
  count(trace, o, capacityBlocks, hits);
  return hits;
}

/**
 * Engine blocks hit, bookkept per TRACE block (the engine block size divides the trace block size): the
 * engine blocks of one trace block enter the cache together and are evicted together, in LRU order of
 * trace blocks. Exact for the hits (a trace block's full engine blocks are the same in every prompt that
 * holds it); eviction is at trace-block granularity (a node's capacity is ~2,000 trace blocks or more, so
 * the boundary moves the result by well under 0.1 %). 32× fewer entries than engine blocks at 512/16,
 * and small integer keys: the 23k-request traces take milliseconds instead of a minute.
 */
function traceBlockHits(
  trace: readonly CeilingRequest[],
  o: Omit<CeilingOptions, 'capacityBlocks'>,
  capacity: number,
  hits: Float64Array,
): void {
  const perTraceBlock = o.traceBlockSize / o.blockSize;
  const cache = new Map<number, CachedTraceBlock>();
  const recency = new RecencyQueue();
  let used = 0;
  for (let index = 0; index < trace.length; index++) {
    const r = trace[index]!;
    const hittable = Math.floor((r.inputLength - 1) / o.blockSize);
    let run = 0;
    for (let i = 0; i < r.hashIds.length; i++) {
      const have = cache.get(r.hashIds[i]!)?.blocks ?? 0;
      run += have;
      if (have < perTraceBlock) break;
    }
    hits[index] = Math.min(run, hittable);
    const fullBlocks = Math.floor(r.inputLength / o.blockSize);
    for (let i = 0; i < r.hashIds.length; i++) {
      const id = r.hashIds[i]!;
      const full = Math.min(perTraceBlock, fullBlocks - i * perTraceBlock);
      let entry = cache.get(id);
      if (entry === undefined) cache.set(id, (entry = { blocks: 0, touched: 0 }));
      if (full > entry.blocks) {
        used += full - entry.blocks;
        entry.blocks = full;
      }
      entry.touched = recency.touch(id);
    }
    while (used > capacity) {
      const [id, touched] = recency.oldest();
      const entry = cache.get(id);
      if (entry === undefined || entry.touched !== touched) continue; // touched again since: not the LRU
      cache.delete(id);
      used -= entry.blocks;
    }
  }
}

interface CachedTraceBlock {
  /** Full engine blocks of this trace block in the cache. */
  blocks: number;
  /** Its last touch (a RecencyQueue stamp). */
  touched: number;
}

/**
 * Touch order with lazy deletion: every touch appends (id, stamp); the oldest entry whose stamp is still
 * the id's latest is the LRU one. Cheaper than moving a Map entry to the back on every touch.
 */
class RecencyQueue {
  private ids: number[] = [];
  private stamps: number[] = [];
  private head = 0;
  private clock = 0;

  touch(id: number): number {
    this.ids.push(id);
    this.stamps.push(++this.clock);
    return this.clock;
  }

  /** The oldest (id, stamp) not yet handed out; the caller skips stale ones. */
  oldest(): [number, number] {
    if (this.head > 1024 && this.head * 2 > this.ids.length) {
      this.ids = this.ids.slice(this.head);
      this.stamps = this.stamps.slice(this.head);
      this.head = 0;
    }
    const i = this.head++;
    return [this.ids[i]!, this.stamps[i]!];
  }
}

/** Engine blocks hit, one cache entry per engine block (any block sizes; slower: for odd sizes only). */
function engineBlockHits(
  trace: readonly CeilingRequest[],
  o: Omit<CeilingOptions, 'capacityBlocks'>,
  capacity: number,
  hits: Float64Array,
): void {
  const lru = new Map<number, true>(); // insertion order = recency: the first key is the LRU block
  const keys: number[] = [];
  for (let index = 0; index < trace.length; index++) {
    const r = trace[index]!;
    blockKeys(r, o, keys);
    const hittable = Math.min(keys.length, Math.floor((r.inputLength - 1) / o.blockSize));
    let n = 0;
    while (n < hittable && lru.has(keys[n]!)) n++;
    hits[index] = n;
    for (const k of keys) {
      lru.delete(k);
      lru.set(k, true);
    }
    while (lru.size > capacity) lru.delete(lru.keys().next().value!);
  }
}

/** Keys of the request's FULL engine blocks, written into `out` (reused across requests). */
function blockKeys(r: CeilingRequest, o: Omit<CeilingOptions, 'capacityBlocks'>, out: number[]): void {
  const full = Math.floor(r.inputLength / o.blockSize);
  out.length = full;
  for (let k = 0; k < full; k++) {
    const lastToken = (k + 1) * o.blockSize - 1;
    const traceBlock = Math.floor(lastToken / o.traceBlockSize);
    out[k] = r.hashIds[traceBlock]! * o.traceBlockSize + (lastToken % o.traceBlockSize);
  }
}
