/**
 * The decode worker's half of the layer-wise hand-off: the requests waiting for a prefill worker to push
 * their prompt's KV, and the notifications that complete them. A WRITE's notification is delivered only
 * after its bytes landed in our blocks, so "every layer notified" means "the whole destination is filled".
 * Like a receive completion queue: the NIC (the peer's WRITEs) fills posted buffers on its own, and the
 * completion entries ("kv-layer:{id}:{l}") tell the consumer which buffers are ready.
 *
 *   expect(id, from P) ── destination sent ──▶ P
 *     "kv-layer:{id}:{l}" from P, l = 0..L−1 ─▶ all L in: resolve
 *     "kv-push-failed:{id}" from P            ─▶ reject now (P sent nothing after it; its writes settled)
 *     ttl + grace passed                      ─▶ reject (P starts no write after ttl; the grace covers
 *                                                 bytes still draining from a write that timed out)
 *
 * An abort (the request was cancelled) does not settle early: the blocks stay out of the pool until
 * nothing can write into them any more (the KvConnector contract).
 */
import { TransferError, TransferTimeoutError } from '../transfer/index.ts';
import type { Logger } from '../util/logger.ts';

/** How long after the destination's ttl the decode side still keeps the blocks out of the pool. */
export const PUSH_GRACE_MS = 2_000;

/** The prefill worker gave up pushing (a failed WRITE, or its request was aborted). */
export class KvPushFailedError extends TransferError {}

interface Waiting {
  from: string;
  layers: Set<number>;
  resolve(): void;
  reject(err: Error): void;
  timer: ReturnType<typeof setTimeout>;
}

export class KvPushInbox {
  private readonly waiting = new Map<string, Waiting>();

  constructor(
    private readonly numLayers: number,
    private readonly log?: Logger,
  ) {}

  get size(): number {
    return this.waiting.size;
  }

  /**
   * Wait for `from` to push every layer of `requestId`. Call before sending the destination, so no
   * notification can arrive unexpected; `waitMs` is the destination's ttl plus the grace.
   */
  expect(requestId: string, from: string, waitMs: number): Promise<void> {
    if (this.waiting.has(requestId))
      return Promise.reject(new TransferError(`request ${requestId} already waits for a KV push`));
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(requestId);
        const w = entry;
        reject(
          new TransferTimeoutError(
            `prefill worker "${from}" pushed ${w.layers.size} of ${this.numLayers} layers of request ` +
              `${requestId} within ${waitMs} ms: it stopped, died or is overloaded; prefilling locally ` +
              '(raise --kv-pull-timeout on decode workers if prefill queues are long)',
          ),
        );
      }, waitMs);
      const entry: Waiting = { from, layers: new Set(), resolve, reject, timer };
      this.waiting.set(requestId, entry);
    });
  }

  /** Stop waiting (the destination could not be sent: nobody will push). */
  cancel(requestId: string, err: Error): void {
    const w = this.waiting.get(requestId);
    if (w === undefined) return;
    this.finish(requestId, w);
    w.reject(err);
  }

  /** A layer landed. Notifications from another agent than the expected one are ignored. */
  layerLanded(from: string, requestId: string, layer: number): void {
    const w = this.waiting.get(requestId);
    if (w === undefined || w.from !== from || layer >= this.numLayers) return;
    w.layers.add(layer);
    if (w.layers.size === 1) this.log?.debug('first pushed KV layer landed', { requestId, from, layer });
    if (w.layers.size < this.numLayers) return;
    this.finish(requestId, w);
    w.resolve();
  }

  pushFailed(from: string, requestId: string): void {
    const w = this.waiting.get(requestId);
    if (w === undefined || w.from !== from) return;
    this.finish(requestId, w);
    w.reject(
      new KvPushFailedError(
        `prefill worker "${from}" stopped pushing request ${requestId}'s KV after ${w.layers.size} of ` +
          `${this.numLayers} layers (its log says why); prefilling locally`,
      ),
    );
  }

  private finish(requestId: string, w: Waiting): void {
    clearTimeout(w.timer);
    this.waiting.delete(requestId);
  }
}
