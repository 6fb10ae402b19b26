/**
 * The client side of one stream: a bounded receive buffer between the transport (which pushes items as
 * frames arrive) and the caller's `for await` (which pulls them). Like a TCP receive window: the sender may
 * have at most `window` items outstanding, and the receiver re-opens the window (grants credit) as the
 * caller consumes, half a window at a time. So a caller that lags holds at most `window` items here, the
 * worker's pump stops pulling from the engine, and — unlike pausing the whole socket — the other streams
 * sharing the connection keep flowing.
 *
 * The receiver also owns the caller-side ways a stream ends: abort signal, first/idle timeouts, and
 * `return()` (a `break` out of the loop). Each of these tells the sender to stop (`cancelRemote`) if the
 * stream was still open.
 */
import { FrameError, RequestTimeoutError, type StreamOrigin } from './errors.ts';

export interface StreamReceiverOptions {
  origin: StreamOrigin;
  window: number;
  timeoutMs?: number;
  firstResponseTimeoutMs?: number;
  signal?: AbortSignal;
  /** The caller consumed `n` items: let the sender send `n` more. */
  grantCredit(n: number): void;
  /** The caller gave up while the sender was still sending: tell it to stop. */
  cancelRemote(): void;
}

type Waiter = {
  resolve: (result: IteratorResult<unknown>) => void;
  reject: (error: unknown) => void;
  timer: NodeJS.Timeout | null;
};

type State =
  /** The sender may still send. */
  | 'open'
  /** The sender finished (FINAL): deliver what is buffered, then done. */
  | 'finished'
  /** The sender failed or vanished: deliver what is buffered, then throw `error`. */
  | 'failed'
  /** The caller gave up (abort, timeout, break): buffered items are dropped. */
  | 'closed';

export class StreamReceiver implements AsyncIterableIterator<unknown> {
  private readonly buffer: unknown[] = [];
  private state: State = 'open';
  private error: unknown = null;
  private waiter: Waiter | null = null;
  private consumedSinceGrant = 0;
  /** Items handed to the caller. */
  itemsDelivered = 0;
  /** Items the sender sent (delivered + buffered + dropped on a local cancel). */
  itemsReceived = 0;
  private readonly onAbort = () => this.closeLocally(this.options.signal?.reason);

  constructor(private readonly options: StreamReceiverOptions) {
    options.signal?.addEventListener('abort', this.onAbort, { once: true });
  }

  get origin(): StreamOrigin {
    return this.options.origin;
  }

  /** Whether the sender may still send (no FINAL, no failure, no local cancel). */
  get isOpen(): boolean {
    return this.state === 'open';
  }

  /** Items waiting for the caller. */
  get bufferedItems(): number {
    return this.buffer.length;
  }

  /** An item from the sender. Throws FrameError if it overran the window it was granted. */
  push(item: unknown): void {
    if (this.state !== 'open') return;
    this.itemsReceived++;
    if (this.waiter) {
      this.deliver(this.takeWaiter(), item);
      return;
    }
    if (this.buffer.length >= this.options.window) {
      throw new FrameError(
        `Flow-control violation on request ${this.options.origin.requestId}: the sender exceeded its ` +
          `window of ${this.options.window} unacknowledged items`,
      );
    }
    this.buffer.push(item);
  }

  /** FINAL without error. */
  finish(): void {
    if (this.state !== 'open') return;
    this.state = 'finished';
    this.detachSignal();
    if (this.waiter && this.buffer.length === 0) this.takeWaiter().resolve({ value: undefined, done: true });
  }

  /** FINAL with an error, or the connection broke: the caller sees `error` after the buffered items. */
  fail(error: unknown): void {
    if (this.state !== 'open') return;
    this.state = 'failed';
    this.error = error;
    this.detachSignal();
    if (this.waiter && this.buffer.length === 0) this.takeWaiter().reject(error);
  }

  next(): Promise<IteratorResult<unknown>> {
    if (this.waiter)
      return Promise.reject(new Error('StreamReceiver: next() called while a next() is pending'));
    if (this.buffer.length > 0) {
      const item = this.buffer.shift();
      this.countConsumed();
      return Promise.resolve({ value: item, done: false });
    }
    if (this.state === 'failed' || this.state === 'closed') {
      return this.error === null
        ? Promise.resolve({ value: undefined, done: true })
        : Promise.reject(this.error);
    }
    if (this.state === 'finished') return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve, reject) => {
      this.waiter = { resolve, reject, timer: this.startTimer() };
    });
  }

  /** The caller left the loop (`break`, `return`, or an exception in its body). */
  return(): Promise<IteratorResult<unknown>> {
    if (this.state === 'open') this.closeLocally(null);
    else this.buffer.length = 0;
    return Promise.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<unknown> {
    return this;
  }

  /** Abort, timeout or return: cancel the sender, drop the buffer, fail the waiting caller with `error`. */
  private closeLocally(error: unknown): void {
    if (this.state !== 'open') return;
    this.state = 'closed';
    this.error = error;
    this.buffer.length = 0;
    this.detachSignal();
    this.options.cancelRemote();
    if (this.waiter) {
      const waiter = this.takeWaiter();
      if (error === null) waiter.resolve({ value: undefined, done: true });
      else waiter.reject(error);
    }
  }

  private deliver(waiter: Waiter, item: unknown): void {
    this.countConsumed();
    waiter.resolve({ value: item, done: false });
  }

  private countConsumed(): void {
    this.itemsDelivered++;
    if (this.state !== 'open') return;
    this.consumedSinceGrant++;
    if (this.consumedSinceGrant >= Math.max(1, Math.floor(this.options.window / 2))) {
      const n = this.consumedSinceGrant;
      this.consumedSinceGrant = 0;
      this.options.grantCredit(n);
    }
  }

  private takeWaiter(): Waiter {
    const waiter = this.waiter!;
    this.waiter = null;
    if (waiter.timer) clearTimeout(waiter.timer);
    return waiter;
  }

  private startTimer(): NodeJS.Timeout | null {
    const first = this.itemsDelivered === 0;
    const ms = first
      ? (this.options.firstResponseTimeoutMs ?? this.options.timeoutMs)
      : this.options.timeoutMs;
    if (ms === undefined) return null;
    return setTimeout(() => {
      this.closeLocally(new RequestTimeoutError(this.options.origin, ms, first ? 'first' : 'idle'));
    }, ms);
  }

  private detachSignal(): void {
    this.options.signal?.removeEventListener('abort', this.onAbort);
  }
}
