/**
 * Publishes the engine's load (LoadMetrics) on the `kv_metrics` topic when it changes, at most once per
 * `intervalMs` (default 100 ms → ≤ 10 messages/s), plus a heartbeat every `heartbeatMs` so a router that
 * joins late learns the current load without waiting for a change. Like a backend reporting its queue
 * depth to a load balancer's agent: a sampled gauge, fire-and-forget (the next sample supersedes a lost one).
 */
import type { LoadMetrics } from '../protocols/kv-events.ts';
import type { ComponentScope, EventBus } from '../runtime/events/index.ts';

export interface LoadPublisherOptions {
  bus: EventBus;
  scope: ComponentScope;
  read: () => LoadMetrics;
  intervalMs?: number;
  heartbeatMs?: number;
}

export class LoadPublisher {
  private timer: NodeJS.Timeout | undefined;
  private lastSent = '';
  private lastSentAt = 0;
  private published = 0;

  constructor(private readonly opts: LoadPublisherOptions) {}

  get count(): number {
    return this.published;
  }

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.sample(), this.opts.intervalMs ?? 100);
    this.timer.unref();
    this.sample();
  }

  /** Publish now if the load changed since the last message or the heartbeat is due. */
  sample(): void {
    const metrics = this.opts.read();
    const text = JSON.stringify(metrics);
    const now = Date.now();
    if (text === this.lastSent && now - this.lastSentAt < (this.opts.heartbeatMs ?? 5000)) return;
    if (this.opts.bus.publish(this.opts.scope, 'kv_metrics', metrics)) {
      this.lastSent = text;
      this.lastSentAt = now;
      this.published++;
    }
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }
}
