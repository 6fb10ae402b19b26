/**
 * `kv-approx`: the kv policy for workers that publish no KV events (docs/design-notes.md#approximate-mode, and
 * llm-d's "approximate prefix-cache scoring"). Overlap comes from `ApproxKvIndex`, the router's memory of
 * where it sent each prefix in the last `approxTtlMs` (default 120 s), capped at `approxMaxEntries`. The
 * cost and the pick are the kv policy's.
 */
import type { WorkerId } from '../../protocols/ids.ts';
import { ApproxKvIndex } from '../approx-kv-index.ts';
import type { PolicyOptions, RouteDecision, RouteRequest, WorkerView } from '../types.ts';
import { KvPolicy } from './kv.ts';

export const DEFAULT_APPROX_TTL_MS = 120_000;
export const DEFAULT_APPROX_MAX_ENTRIES = 1_000_000;

export class KvApproxPolicy extends KvPolicy {
  override readonly name = 'kv-approx';
  readonly index: ApproxKvIndex;

  /** Overlap and cache size from this policy's own index (closures made once, not per decision). */
  private readonly overlapOf = (w: WorkerView): number => this.index.matchedDepth(w.workerId);
  private readonly treeOf = (w: WorkerView): number => this.index.workerBlockCount(w.workerId);

  constructor(options: PolicyOptions = {}) {
    super(options);
    this.index = new ApproxKvIndex({
      ttlMs: options.approxTtlMs ?? DEFAULT_APPROX_TTL_MS,
      maxEntries: options.approxMaxEntries ?? DEFAULT_APPROX_MAX_ENTRIES,
      now: options.now ?? Date.now,
    });
  }

  override select(request: RouteRequest, workers: readonly WorkerView[]): RouteDecision {
    this.index.matchDepths(request.blockHashes);
    const decision = this.selectWith(request, workers, this.overlapOf, this.treeOf);
    this.index.record(decision.workerId, request.blockHashes);
    return decision;
  }

  onWorkerRemoved(workerId: WorkerId): void {
    this.index.removeWorker(workerId);
  }
}
