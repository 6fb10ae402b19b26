/**
 * The router's pool: the one record of which workers serve a model, where the request plane reaches them,
 * their last load report, and which ones recently failed a request. It also decides which members may take
 * a request right now.
 *
 * Systems analogy: an nginx `upstream` block with passive health checks. The block lists its servers, a
 * server that fails (`max_fails=1`) is marked down for `fail_timeout` (here `quarantineMs`), and a server at
 * capacity is skipped the way a full backend is (here: KV cache usage ≥ `busyThreshold`, from its last load
 * report or from the router's own count of the blocks it just sent there: `ActiveBlocksEstimate`).
 *
 *   members ─ exclude (tried for this request) ─► untried ─ prefer not quarantined ─► eligible
 *           ─ skip busy ─► offered to the policy
 *   none untried → NoWorkersError; every eligible one busy → AllWorkersBusyError (both HTTP 503)
 */
import type { WorkerId } from '../protocols/ids.ts';
import type { LoadMetrics } from '../protocols/kv-events.ts';
import { AllWorkersBusyError, NoWorkersError } from './errors.ts';
import type { WorkerInfo } from './types.ts';

/** How long a worker that failed a request is skipped (discovery removes a dead one within its TTL). */
export const QUARANTINE_MS = 5_000;

/** The frontend's default `--busy-threshold`: KV cache usage (0..1) at which a worker counts as busy. */
export const DEFAULT_BUSY_THRESHOLD = 0.95;

/**
 * What the router itself counts as taken on a worker right now: KV blocks (its in-flight ledger, plus what
 * the last report showed beyond it) and requests in flight; undefined when the router has nothing in flight
 * there. Load reports lag (~100 ms, and none at all before the first): a burst routed in between would
 * otherwise all land on a worker that already has no room, like a connection-count limit (nginx
 * `max_conns`) counted locally.
 */
export type ActiveBlocksEstimate = (workerId: WorkerId) => { blocks: number; requests: number } | undefined;

export interface WorkerPoolOptions {
  /** KV cache usage (0..1) at or above which a worker is skipped; unset or above 1 = never busy. */
  busyThreshold?: number;
  /** How long `quarantine` skips a worker, ms (default QUARANTINE_MS). */
  quarantineMs?: number;
  /** Milliseconds clock, injected so quarantine expiry is testable (default `Date.now`). */
  now?: () => number;
}

interface Member {
  /** Its index in the join-order arrays (`orderInfos`, ...), renumbered on every join and leave. */
  position: number;
  info: WorkerInfo;
  /** Last load the worker published; undefined until its first report. */
  load?: LoadMetrics;
  /** Clock value until which this worker is skipped. */
  quarantinedUntil?: number;
}

export class WorkerPool {
  private readonly members = new Map<WorkerId, Member>();
  // What `candidates` reads per member, as arrays in join order (rebuilt on join and leave, kept in step
  // with the members' fields): a decision walks three dense arrays instead of 64 member objects, which
  // after the router was preempted are as many cache misses.
  private orderInfos: WorkerInfo[] = [];
  private orderLoads: (LoadMetrics | undefined)[] = [];
  /** Quarantine deadlines (0 = none). */
  private orderQuarantine: number[] = [];
  /** `candidates`' scratch: positions of the untried members it may offer, before the busy check. */
  private eligible = new Int32Array(64);
  private readonly busyThreshold: number;
  private readonly quarantineMs: number;
  private readonly now: () => number;

  constructor(options: WorkerPoolOptions = {}) {
    this.busyThreshold = options.busyThreshold ?? Number.POSITIVE_INFINITY;
    this.quarantineMs = options.quarantineMs ?? QUARANTINE_MS;
    this.now = options.now ?? Date.now;
  }

  get size(): number {
    return this.members.size;
  }

  has(workerId: WorkerId): boolean {
    return this.members.has(workerId);
  }

  info(workerId: WorkerId): WorkerInfo | undefined {
    return this.members.get(workerId)?.info;
  }

  /** Members in the order they joined (policies such as round-robin see this order). */
  list(): WorkerInfo[] {
    return [...this.members.values()].map((m) => m.info);
  }

  /** Add a worker or update its card; a known worker keeps its load and quarantine. True if new. */
  set(info: WorkerInfo): boolean {
    const known = this.members.get(info.workerId);
    if (known) {
      known.info = info;
      this.orderInfos[known.position] = info;
      return false;
    }
    this.members.set(info.workerId, { position: 0, info, load: undefined, quarantinedUntil: undefined });
    this.renumber();
    return true;
  }

  delete(workerId: WorkerId): boolean {
    if (!this.members.delete(workerId)) return false;
    this.renumber();
    return true;
  }

  /** Rebuild the join-order arrays (a join or a leave: rare). */
  private renumber(): void {
    const members = [...this.members.values()];
    members.forEach((member, position) => {
      member.position = position;
    });
    this.orderInfos = members.map((m) => m.info);
    this.orderLoads = members.map((m) => m.load);
    this.orderQuarantine = members.map((m) => m.quarantinedUntil ?? 0);
    if (this.eligible.length < members.length) this.eligible = new Int32Array(2 * members.length);
  }

  loadOf(workerId: WorkerId): LoadMetrics | undefined {
    return this.members.get(workerId)?.load;
  }

  /** A load report; reports of workers not in the pool are ignored (they may not have registered yet). */
  recordLoad(load: LoadMetrics): void {
    const member = this.members.get(load.workerId);
    if (member === undefined) return;
    member.load = load;
    this.orderLoads[member.position] = load;
  }

  /** The worker failed a request at the transport level: skip it for a while (dead, not yet expired?). */
  quarantine(workerId: WorkerId): void {
    const member = this.members.get(workerId);
    if (member === undefined) return;
    member.quarantinedUntil = this.now() + this.quarantineMs;
    this.orderQuarantine[member.position] = member.quarantinedUntil;
  }

  isQuarantined(workerId: WorkerId): boolean {
    return isQuarantinedAt(this.members.get(workerId)?.quarantinedUntil, this.now());
  }

  /**
   * The router queue's check (`router-queue.ts`): whether some member can start another prefill, i.e. its
   * prefill tokens in flight are at most `threshold × max_num_batched_tokens`. A member that published no
   * budget always can, and so does an empty pool (routing then fails at once with NoWorkersError rather than
   * waiting for a worker that may never come).
   */
  hasPrefillRoom(threshold: number, prefillTokensOf: (workerId: WorkerId) => number): boolean {
    if (this.orderInfos.length === 0) return true;
    for (const info of this.orderInfos) {
      const budget = info.maxNumBatchedTokens;
      if (budget === undefined || prefillTokensOf(info.workerId) <= threshold * budget) return true;
    }
    return false;
  }

  isBusy(workerId: WorkerId, activeBlocks?: ActiveBlocksEstimate): boolean {
    const member = this.members.get(workerId);
    return member !== undefined && this.busyAt(member.info, member.load, activeBlocks);
  }

  /**
   * The members that may take a request: not excluded (already tried for it), not quarantined unless every
   * untried one is (then a quarantined worker beats a 503: it may have recovered), and not busy. In join
   * order, written into `out` (the router's reused array, so a decision allocates no candidate list), and
   * their last load reports into `loads` (same order) when given.
   */
  candidates(
    exclude: readonly WorkerId[] | undefined,
    activeBlocks?: ActiveBlocksEstimate,
    out: WorkerInfo[] = [],
    loads?: (LoadMetrics | undefined)[],
  ): WorkerInfo[] {
    const now = this.now(); // one clock read per decision, not one per member
    // The scratch arrays are overwritten by index and cut to length at the end: `length = 0` then `push`
    // would drop their backing stores and reallocate them on every decision.
    const eligible = this.eligible;
    const infos = this.orderInfos;
    const quarantine = this.orderQuarantine;
    let untried = 0;
    let kept = 0;
    for (let i = 0; i < infos.length; i++) {
      if (exclude?.includes(infos[i]!.workerId)) continue;
      untried++;
      if (!(quarantine[i]! > now)) eligible[kept++] = i;
    }
    if (untried === 0) {
      throw new NoWorkersError(
        this.members.size === 0
          ? 'no workers available: none has registered yet; check that workers are running and discoverable'
          : `no workers available: all ${this.members.size} are excluded for this request`,
      );
    }
    if (kept === 0) {
      // Every untried member is quarantined: offer them all rather than fail.
      for (let i = 0; i < infos.length; i++) {
        if (!exclude?.includes(infos[i]!.workerId)) eligible[kept++] = i;
      }
    }
    let idle = 0;
    for (let k = 0; k < kept; k++) {
      const i = eligible[k]!;
      const load = this.orderLoads[i];
      if (this.busyAt(infos[i]!, load, activeBlocks)) continue;
      if (loads !== undefined) loads[idle] = load;
      out[idle++] = infos[i]!;
    }
    out.length = idle;
    if (loads !== undefined) loads.length = idle;
    if (idle === 0) {
      throw new AllWorkersBusyError(
        `${kept} worker(s) are at or past the busy threshold (KV cache usage ≥ ` +
          `${this.busyThreshold}, reported or counted from requests in flight); add workers or KV blocks, ` +
          'or raise --busy-threshold',
      );
    }
    return out;
  }

  /**
   * Busy by its last report, or by the router's own count of what it has in flight there: KV blocks at the
   * threshold, or as many requests as the worker runs at once (`maxNumSeqs`: the next would wait there).
   */
  private busyAt(
    info: WorkerInfo,
    load: LoadMetrics | undefined,
    activeBlocks: ActiveBlocksEstimate | undefined,
  ): boolean {
    if (isBusy(load, this.busyThreshold)) return true;
    // Checked before reading the card: with no threshold (replay, benchmarks) a decision need not touch it.
    if (activeBlocks === undefined || !Number.isFinite(this.busyThreshold)) return false;
    const { workerId, totalBlocks, maxNumSeqs } = info;
    const own = activeBlocks(workerId);
    if (own === undefined) return false;
    if (totalBlocks > 0 && own.blocks >= this.busyThreshold * totalBlocks) return true;
    return maxNumSeqs !== undefined && maxNumSeqs > 0 && own.requests >= maxNumSeqs;
  }
}

function isQuarantinedAt(until: number | undefined, now: number): boolean {
  return until !== undefined && until > now;
}

function isBusy(load: LoadMetrics | undefined, threshold: number): boolean {
  return load !== undefined && load.gpuCacheUsagePerc >= threshold;
}
