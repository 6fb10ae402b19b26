/**
 * The workers of one model as the frontend knows them: their request-plane addresses (from discovery),
 * their last load report (from the event plane), and which ones recently refused connections. Like an
 * nginx upstream block with passive health checks: `max_fails` / `fail_timeout` become `quarantine()`,
 * and a worker past its busy threshold is skipped the way a full backend is.
 *
 * The router owns the choice; this owns the facts the choice is filtered by.
 */
import type { InstanceInfo } from '../protocols/discovery.ts';
import type { WorkerId } from '../protocols/ids.ts';
import type { LoadMetrics } from '../protocols/kv-events.ts';

/** How long a worker that refused a connection is skipped (discovery removes a dead one within its TTL). */
export const QUARANTINE_MS = 5_000;

/** KV cache usage (0..1) at or above which a worker counts as busy. Above 1 = never busy. */
export const DEFAULT_BUSY_THRESHOLD = 0.95;

export interface PoolWorker {
  workerId: WorkerId;
  instance: InstanceInfo;
  load?: LoadMetrics;
  /** Date.now() until which this worker is skipped. */
  quarantinedUntil?: number;
}

export class WorkerPool {
  private readonly workers = new Map<WorkerId, PoolWorker>();

  constructor(
    private readonly busyThreshold = DEFAULT_BUSY_THRESHOLD,
    private readonly now: () => number = Date.now,
  ) {}

  get size(): number {
    return this.workers.size;
  }

  ids(): WorkerId[] {
    return [...this.workers.keys()];
  }

  list(): PoolWorker[] {
    return [...this.workers.values()];
  }

  has(workerId: WorkerId): boolean {
    return this.workers.has(workerId);
  }

  set(workerId: WorkerId, instance: InstanceInfo): void {
    const known = this.workers.get(workerId);
    this.workers.set(workerId, { ...known, workerId, instance });
  }

  delete(workerId: WorkerId): boolean {
    return this.workers.delete(workerId);
  }

  addressOf(workerId: WorkerId): string | undefined {
    return this.workers.get(workerId)?.instance.transport.tcp;
  }

  recordLoad(load: LoadMetrics): void {
    const worker = this.workers.get(load.workerId);
    if (worker) worker.load = load;
  }

  /** A connection to this worker failed: skip it for a while (it may be dead and not yet expired). */
  quarantine(workerId: WorkerId, ms = QUARANTINE_MS): void {
    const worker = this.workers.get(workerId);
    if (worker) worker.quarantinedUntil = this.now() + ms;
  }

  isQuarantined(workerId: WorkerId): boolean {
    const until = this.workers.get(workerId)?.quarantinedUntil;
    return until !== undefined && until > this.now();
  }

  isBusy(workerId: WorkerId): boolean {
    const load = this.workers.get(workerId)?.load;
    return load !== undefined && load.gpuCacheUsagePerc >= this.busyThreshold;
  }
}
