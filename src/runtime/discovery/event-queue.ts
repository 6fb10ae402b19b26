/**
 * Delivers a watch's events to its handler in order, never synchronously from the write that caused them
 * (so a handler never runs before `watch()` has returned its snapshot, and never re-enters a writer), and
 * never lets a throwing handler stop the stream. Like a per-subscriber mailbox.
 */
import { getLogger } from '../../util/logger.ts';
import type { DiscoveryEvent, DiscoveryEventHandler } from './discovery.ts';

const log = getLogger('discovery');

export class EventQueue {
  private pending: DiscoveryEvent[] = [];
  private scheduled = false;
  private closed = false;

  constructor(private readonly handler: DiscoveryEventHandler) {}

  push(event: DiscoveryEvent): void {
    if (this.closed) return;
    this.pending.push(event);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
  }

  close(): void {
    this.closed = true;
    this.pending = [];
  }

  private flush(): void {
    this.scheduled = false;
    const batch = this.pending;
    this.pending = [];
    for (const event of batch) {
      if (this.closed) return;
      try {
        this.handler(event);
      } catch (err) {
        log.error('discovery watch handler threw; event skipped', { key: event.key, error: err });
      }
    }
  }
}
