/**
 * The server side of one stream: runs the endpoint's handler and moves its items to a sink (a socket, or
 * an in-memory receiver), never faster than the receiver allows. Like a TCP sender with a congestion
 * window: at most `credit` items may be unacknowledged, and a sink that is full (socket.write returned
 * false) makes the pump wait for 'drain'. While the pump waits it does not call the handler's iterator, so
 * a fast producer (the engine) is paused by a slow reader instead of filling memory.
 *
 * A `batch` stream (the caller reads the response only once it is whole) sends its first item at once and
 * holds the rest, up to MAX_BATCH_ITEMS or the credit left, for one `dataBatch` call: a worker's 8-token
 * answer leaves as 3 frames instead of 9 (like Nagle's algorithm, bounded by a count instead of a timer).
 */
import { RemoteErrorCode, type RemoteErrorInfo } from '../../protocols/request-plane.ts';
import type { EndpointHandler } from './request-plane.ts';

export interface PumpSink {
  /** Deliver one item; the returned promise (if any) resolves when the transport can take more. */
  data(item: unknown): undefined | Promise<void>;
  /** Deliver several items at once (a `batch` stream); absent = this sink takes one item at a time. */
  dataBatch?(items: unknown[]): undefined | Promise<void>;
  /** End of stream: `error` set when the handler failed. Not called after a cancel. */
  final(error?: RemoteErrorInfo): void;
}

export interface StreamPumpOptions {
  handler: EndpointHandler;
  payload: unknown;
  endpoint: string;
  requestId: string;
  /** Initial credit: items that may be sent before the receiver grants more. */
  window: number;
  /** The caller asked for whole-response delivery: items after the first may go out in batches. */
  batch?: boolean;
  sink: PumpSink;
}

/**
 * Most items a `batch` stream holds before sending them. It bounds what a worker's death loses: the
 * frontend migrates a request with the tokens it has received, and the worker's new peer regenerates the
 * rest, at most this many.
 */
export const MAX_BATCH_ITEMS = 16;

/** A handler error as the FINAL frame carries it. */
export function toRemoteErrorInfo(error: unknown): RemoteErrorInfo {
  if (error instanceof Error) {
    const { code, param } = error as { code?: unknown; param?: unknown };
    return {
      code: typeof code === 'string' ? code : RemoteErrorCode.HandlerError,
      message: error.message,
      ...(typeof param === 'string' ? { param } : {}),
    };
  }
  return { code: RemoteErrorCode.HandlerError, message: String(error) };
}

export class StreamPump {
  private credit: number;
  private readonly controller = new AbortController();
  private wakeUp: (() => void) | null = null;
  private iterator: AsyncIterator<unknown> | null = null;
  private iteratorClosed = false;
  /** DATA items handed to the sink. */
  itemsSent = 0;

  constructor(private readonly options: StreamPumpOptions) {
    this.credit = options.window;
  }

  get cancelled(): boolean {
    return this.controller.signal.aborted;
  }

  /** The receiver consumed `n` more items. */
  grant(n: number): void {
    this.credit += n;
    this.wake();
  }

  /** Stop: abort the handler's signal, close its iterator, send nothing more. Idempotent. */
  cancel(reason: string): void {
    if (this.cancelled) return;
    this.controller.abort(new Error(reason));
    this.wake();
    this.closeIterator();
  }

  /** Runs until the handler finishes, fails, or the stream is cancelled. Never rejects. */
  async run(): Promise<void> {
    const { handler, payload, endpoint, requestId, sink } = this.options;
    const batchSink = this.options.batch === true ? sink.dataBatch?.bind(sink) : undefined;
    /** Items of a batch stream counted against the credit but not yet handed to the sink. */
    const held: unknown[] = [];
    const flush = () => (held.length > 0 ? batchSink!(held.splice(0, held.length)) : undefined);
    try {
      const ctx = { signal: this.controller.signal, requestId, endpoint };
      this.iterator = handler(payload, ctx)[Symbol.asyncIterator]();
      for (;;) {
        if (this.credit <= 0) await this.creditOrCancel();
        if (this.cancelled) return;
        const result = await this.iterator.next();
        if (this.cancelled) return;
        if (result.done) {
          flush();
          sink.final();
          return;
        }
        this.credit--;
        this.itemsSent++;
        let full: undefined | Promise<void>;
        if (batchSink && this.itemsSent > 1) {
          held.push(result.value);
          if (held.length >= MAX_BATCH_ITEMS || this.credit <= 0) full = flush();
        } else full = sink.data(result.value);
        if (full) await full; // only when the transport is full: no extra microtask per item otherwise
      }
    } catch (error) {
      if (this.cancelled) return;
      // What the handler produced before it failed reaches the caller, as it would have unbatched.
      try {
        flush();
      } catch {
        // The held items could not be sent (the sink failed on them): the FINAL below says why.
      }
      sink.final(toRemoteErrorInfo(error));
      // The handler may still be alive (e.g. the sink could not encode its item): release it.
      this.controller.abort(error);
      this.closeIterator();
    } finally {
      if (this.cancelled) this.closeIterator();
    }
  }

  private creditOrCancel(): Promise<void> {
    return new Promise((resolve) => {
      this.wakeUp = resolve;
    });
  }

  private wake(): void {
    const wake = this.wakeUp;
    this.wakeUp = null;
    wake?.();
  }

  /**
   * Ask the iterator to finish. On an async generator blocked in `await`, return() is queued behind the
   * pending next(): the generator's finally runs as soon as it yields again (or sooner, if it honours the
   * signal). Not awaited: a handler that ignores its signal must not wedge the connection.
   */
  private closeIterator(): void {
    if (this.iteratorClosed || !this.iterator?.return) return;
    this.iteratorClosed = true;
    try {
      this.iterator.return().catch(() => {});
    } catch {
      // A synchronous throw from return() is the handler's problem; the stream is over either way.
    }
  }
}
