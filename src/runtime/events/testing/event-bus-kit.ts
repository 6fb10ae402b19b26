/**
 * Test helpers for the event bus: sample payloads and a collector that waits (bounded) for deliveries.
 */
import { randomBytes } from 'node:crypto';
import { asWorkerId } from '../../../protocols/ids.ts';
import type { LoadMetrics, WorkerKvEvent } from '../../../protocols/kv-events.ts';
import type { ComponentScope } from '../event-bus.ts';

/** A scope no other test uses, so logs and subjects never mix between tests. */
export function freshScope(component = 'backend'): ComponentScope {
  return { namespace: `test-${randomBytes(4).toString('hex')}`, component };
}

export function sampleLoad(workerId: string, kvUsedBlocks: number): LoadMetrics {
  return {
    workerId: asWorkerId(workerId),
    activeDecodeBlocks: kvUsedBlocks,
    activePrefillTokens: 0,
    kvUsedBlocks,
    kvTotalBlocks: 1024,
    numWaiting: 0,
    numRunning: 1,
    gpuCacheUsagePerc: kvUsedBlocks / 1024,
  };
}

/** A `stored` event of one block whose hashes derive from `eventId` (so each event is distinct). */
export function sampleKvEvent(workerId: string, eventId: number): WorkerKvEvent {
  return {
    workerId: asWorkerId(workerId),
    event: {
      eventId,
      data: {
        type: 'stored',
        parentHash: eventId > 1 ? String(1000 + eventId - 1) : null,
        blocks: [
          {
            blockHash: String(1000 + eventId),
            tokensHash: String(5000 + eventId),
            tokenIds: [eventId, 2, 3],
          },
        ],
      },
    },
  };
}

/** Gathers deliveries; `waitFor(n)` resolves once n have arrived, or rejects after `timeoutMs`. */
export class Collector<T> {
  readonly items: T[] = [];
  private waiters: { n: number; resolve: () => void }[] = [];

  readonly push = (item: T): void => {
    this.items.push(item);
    this.waiters = this.waiters.filter((w) => {
      if (this.items.length < w.n) return true;
      w.resolve();
      return false;
    });
  };

  async waitFor(n: number, timeoutMs = 10_000): Promise<T[]> {
    if (this.items.length >= n) return this.items;
    let timer: NodeJS.Timeout | undefined;
    const arrived = new Promise<void>((resolve) => this.waiters.push({ n, resolve }));
    const timedOut = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`expected ${n} deliveries within ${timeoutMs} ms, got ${this.items.length}`)),
        timeoutMs,
      );
    });
    try {
      await Promise.race([arrived, timedOut]);
    } finally {
      clearTimeout(timer);
    }
    return this.items;
  }
}

/** Retry `attempt` every `everyMs` until `done()` is true; throws after `timeoutMs`. */
export async function retryUntil(
  attempt: () => unknown,
  done: () => boolean,
  what: string,
  { everyMs = 100, timeoutMs = 15_000 } = {},
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    attempt();
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}
