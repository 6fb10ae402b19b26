/**
 * The lines of a background `etcdctl watch`, each stamped with when it arrived, with a way to wait for a
 * particular event ("the DELETE of this key"). Like `tail -f` on an audit log with a stopwatch.
 *
 * etcdctl prints every event as lines: `PUT` or `DELETE`, then the key, then the value (PUT only).
 */
import { performance } from 'node:perf_hooks';
import { note } from './lab-kit.ts';

export interface WatchEvent {
  type: 'PUT' | 'DELETE';
  key: string;
  /** performance.now() when the event's key line arrived. */
  at: number;
}

interface Waiter {
  matches: (e: WatchEvent) => boolean;
  resolve: (e: WatchEvent) => void;
}

export class WatchLog {
  readonly events: WatchEvent[] = [];
  private pendingType: WatchEvent['type'] | undefined;
  private waiters: Waiter[] = [];

  constructor(private readonly origin: number) {}

  /** Feed one output line of `etcdctl watch`; prints it with its arrival time. */
  readonly onLine = (line: string): void => {
    const at = performance.now();
    note(`    [watch +${((at - this.origin) / 1000).toFixed(3)} s] ${line}`);
    if (line === 'PUT' || line === 'DELETE') {
      this.pendingType = line;
      return;
    }
    if (this.pendingType === undefined) return; // a value line
    const event: WatchEvent = { type: this.pendingType, key: line, at };
    this.pendingType = undefined;
    this.events.push(event);
    for (const waiter of this.waiters.filter((w) => w.matches(event))) waiter.resolve(event);
    this.waiters = this.waiters.filter((w) => !w.matches(event));
  };

  /** The first event (already seen or future) of this type on this key; rejects after `timeoutMs`. */
  waitFor(type: WatchEvent['type'], key: string, timeoutMs: number): Promise<WatchEvent> {
    const matches = (e: WatchEvent) => e.type === type && e.key === key;
    const seen = this.events.find(matches);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no ${type} of ${key} seen by the watch within ${timeoutMs} ms`)),
        timeoutMs,
      );
      this.waiters.push({
        matches,
        resolve: (e) => {
          clearTimeout(timer);
          resolve(e);
        },
      });
    });
  }
}
