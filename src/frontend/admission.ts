/**
 * Admission control for one model: when the router says every worker is busy (`AllWorkersBusyError`), a
 * request waits here, in arrival order, instead of piling onto a worker that has no KV room for it; past
 * `--max-queued-requests` waiting requests it is turned away at once with 429 and `Retry-After`.
 * Systems analogy: a listen backlog (or nginx's `limit_req ... burst=N`): a bounded FIFO in front of a
 * saturated backend, with a quick, explicit refusal beyond it rather than unbounded latency.
 *
 *   route() ok ──────────────────────────────────────────────► worker
 *   route() busy ─ queue < max ─► wait (FIFO) ─ release() / poll ─► route() again (head first)
 *                └ queue full ──► 429 queue_full, Retry-After
 *   maxQueued 0: busy → 503 busy, Retry-After (Dynamo's behaviour: no queue)
 *
 * A waiting request leaves the queue when it is routed, when its signal aborts (client gone, request
 * deadline, shutdown), or when routing fails otherwise (no workers left → 503). Capacity frees when a
 * request ends (`release`, called by RoutedEngine) and when load reports or new workers arrive (the poll).
 */
import { AllWorkersBusyError } from '../router/index.ts';
import { allWorkersBusy, queueFull } from './http-errors.ts';

/** Default `--max-queued-requests`: requests one model may hold waiting for a worker. */
export const DEFAULT_MAX_QUEUED_REQUESTS = 256;

/** How often waiting requests retry routing without a release (load reports, workers joining). */
const POLL_MS = 50;

export interface AdmissionOptions {
  /** The model's name (in the 429 message). */
  model: string;
  /** Requests that may wait for a worker; 0 = none (busy → 503 at once). */
  maxQueued: number;
  /** Retry interval while requests wait, ms (default 50). */
  pollMs?: number;
  /** Told the queue depth whenever it changes, and every refusal (the /metrics gauge and counter). */
  observer?: {
    depth(queued: number): void;
    rejected(reason: 'queue_full' | 'busy'): void;
  };
}

interface Waiter {
  tryRoute(): boolean;
  reject(err: unknown): void;
}

export class AdmissionQueue {
  private readonly waiters: Waiter[] = [];
  private timer: NodeJS.Timeout | undefined;
  /** Smoothed interval between request ends, ms: how fast the queue drains (the Retry-After estimate). */
  private releaseIntervalMs: number | undefined;
  private lastReleaseAt: number | undefined;

  constructor(private readonly options: AdmissionOptions) {}

  /** Requests waiting for a worker now. */
  get queued(): number {
    return this.waiters.length;
  }

  /**
   * Route now if nobody waits and a worker can take it; else wait in line. Throws what `route` throws other
   * than AllWorkersBusyError, the 429/503 refusals above, or the signal's reason when it aborts.
   */
  admit<T>(route: () => T, signal?: AbortSignal): Promise<T> {
    // Cut (deadline, shutdown) or abandoned before it got here: route nothing.
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.waiters.length === 0) {
      try {
        return Promise.resolve(route());
      } catch (err) {
        if (!(err instanceof AllWorkersBusyError)) return Promise.reject(err);
        if (this.options.maxQueued === 0) {
          this.options.observer?.rejected('busy');
          return Promise.reject(allWorkersBusy(err.message, this.retryAfterS()));
        }
      }
    }
    if (this.waiters.length >= this.options.maxQueued) {
      this.options.observer?.rejected('queue_full');
      return Promise.reject(queueFull(this.options.model, this.options.maxQueued, this.retryAfterS()));
    }
    return this.enqueue(route, signal);
  }

  /** A request of this model ended: a worker may have room now. */
  release(): void {
    const now = Date.now();
    if (this.lastReleaseAt !== undefined) {
      const interval = now - this.lastReleaseAt;
      this.releaseIntervalMs =
        this.releaseIntervalMs === undefined ? interval : 0.8 * this.releaseIntervalMs + 0.2 * interval;
    }
    this.lastReleaseAt = now;
    if (this.waiters.length > 0) this.pump();
  }

  /** Reject every waiting request (the model is gone, the server is closing). */
  clear(reason: unknown): void {
    for (const waiter of this.waiters.splice(0)) waiter.reject(reason);
    this.stopPolling();
    this.depthChanged();
  }

  /**
   * Seconds until a request arriving now could expect a worker: the queue ahead of it times the recent
   * interval between request ends; at least 1, at most 60.
   */
  retryAfterS(): number {
    const perRequestMs = this.releaseIntervalMs ?? 1000;
    const estimate = Math.ceil(((this.waiters.length + 1) * perRequestMs) / 1000);
    return Math.min(60, Math.max(1, estimate));
  }

  private enqueue<T>(route: () => T, signal?: AbortSignal): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const onAbort = (): void => {
        const at = this.waiters.indexOf(waiter);
        if (at >= 0) this.waiters.splice(at, 1);
        if (this.waiters.length === 0) this.stopPolling();
        this.depthChanged();
        reject(signal?.reason);
      };
      const waiter: Waiter = {
        tryRoute: () => {
          let routed: T;
          try {
            routed = route();
          } catch (err) {
            if (err instanceof AllWorkersBusyError) return false;
            signal?.removeEventListener('abort', onAbort);
            reject(err);
            return true;
          }
          signal?.removeEventListener('abort', onAbort);
          resolve(routed);
          return true;
        },
        reject: (err) => {
          signal?.removeEventListener('abort', onAbort);
          reject(err);
        },
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiters.push(waiter);
      this.depthChanged();
      this.startPolling();
    });
  }

  /** Admit waiting requests from the head while workers take them. */
  private pump(): void {
    const before = this.waiters.length;
    while (this.waiters.length > 0) {
      if (!this.waiters[0].tryRoute()) break;
      this.waiters.shift();
    }
    if (this.waiters.length === 0) this.stopPolling();
    if (this.waiters.length !== before) this.depthChanged();
  }

  private depthChanged(): void {
    this.options.observer?.depth(this.waiters.length);
  }

  private startPolling(): void {
    if (this.timer !== undefined) return;
    this.timer = setInterval(() => this.pump(), this.options.pollMs ?? POLL_MS);
    this.timer.unref();
  }

  private stopPolling(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }
}
