/**
 * The frontend's side of the request plane: `call(address, endpoint, payload)` → an async iterable of the
 * worker's responses. Connections are pooled like an HTTP keep-alive agent's, but one per worker address
 * is enough because streams are multiplexed on it; a closed connection is replaced on the next call.
 */
import { randomUUID } from 'node:crypto';
import { DEFAULT_MAX_FRAME_BYTES } from '../../protocols/request-plane.ts';
import type { ClusterSecret } from '../../util/cluster-secret.ts';
import { ClientConnection, type ClientConnectionOptions } from './client-connection.ts';
import type { CallOptions } from './request-plane.ts';

export interface RequestPlaneClientOptions {
  /** Items a stream may have in flight before its consumer reads them (default 64). */
  window?: number;
  /** Give up dialling after this long (default 5000 ms). */
  connectTimeoutMs?: number;
  /** Largest frame sent or accepted, header included (default 16 MiB). */
  maxFrameBytes?: number;
  /** Secret to prove to workers at connection setup (workers started with one refuse callers without it). */
  clusterSecret?: ClusterSecret;
}

export const DEFAULT_STREAM_WINDOW = 64;

export class RequestPlaneClient {
  private readonly pool = new Map<string, Promise<ClientConnection>>();
  private readonly connectionOptions: ClientConnectionOptions;

  constructor(options: RequestPlaneClientOptions = {}) {
    this.connectionOptions = {
      window: options.window ?? DEFAULT_STREAM_WINDOW,
      connectTimeoutMs: options.connectTimeoutMs ?? 5000,
      maxFrameBytes: options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES,
      clusterSecret: options.clusterSecret,
    };
  }

  /**
   * Call `endpoint` on the worker at `address` ("host:port"). The request is sent when iteration starts;
   * `break` or aborting `signal` sends CANCEL. Throws ConnectError, StreamDisconnectedError, RemoteError,
   * RequestTimeoutError, FrameTooLargeError (payload too big), or the signal's reason.
   */
  call(
    address: string,
    endpoint: string,
    payload: unknown,
    options: CallOptions = {},
  ): AsyncIterable<unknown> {
    return new PendingCall(() => this.open(address, endpoint, payload, options));
  }

  private async open(
    address: string,
    endpoint: string,
    payload: unknown,
    options: CallOptions,
  ): Promise<AsyncIterator<unknown>> {
    const { signal } = options;
    signal?.throwIfAborted();
    const connection = await untilAborted(this.connection(address), signal);
    signal?.throwIfAborted();
    return connection.openStream(endpoint, payload, options.requestId ?? randomUUID(), options);
  }

  /** Round-trip time to the worker in ms (PING/PONG on the pooled connection). */
  async ping(address: string, timeoutMs = 5000): Promise<number> {
    const connection = await this.connection(address);
    return connection.ping(timeoutMs);
  }

  /** Open pooled connections (connected or connecting). */
  get connectionCount(): number {
    return this.pool.size;
  }

  /** Close every connection; streams still open fail with StreamDisconnectedError. */
  async close(): Promise<void> {
    const pending = [...this.pool.values()];
    this.pool.clear();
    for (const result of await Promise.allSettled(pending)) {
      if (result.status === 'fulfilled')
        result.value.destroy(new Error('the request-plane client was closed'));
    }
  }

  /** The pooled connection to `address`, dialling when there is none (concurrent callers share one dial). */
  private async connection(address: string): Promise<ClientConnection> {
    const pooled = this.pool.get(address);
    if (pooled) {
      const connection = await pooled;
      if (!connection.closed) return connection;
      if (this.pool.get(address) === pooled) this.pool.delete(address);
      return this.connection(address);
    }
    const dialling = ClientConnection.connect(address, this.connectionOptions, () => {
      if (this.pool.get(address) === dialling) this.pool.delete(address);
    });
    this.pool.set(address, dialling);
    dialling.catch(() => {
      if (this.pool.get(address) === dialling) this.pool.delete(address);
    });
    return dialling;
  }
}

/**
 * A call whose stream opens on the first `next()` (nothing is sent until the caller iterates), then hands
 * every `next()` straight to the stream's receiver: no async generator in between, whose extra promise per
 * item the frontend paid on every token.
 */
class PendingCall implements AsyncIterableIterator<unknown> {
  private stream: AsyncIterator<unknown> | null = null;
  private opening: Promise<AsyncIterator<unknown>> | null = null;
  private done = false;

  constructor(private readonly openStream: () => Promise<AsyncIterator<unknown>>) {}

  [Symbol.asyncIterator](): AsyncIterableIterator<unknown> {
    return this;
  }

  next(): Promise<IteratorResult<unknown>> {
    if (this.stream) return this.stream.next();
    if (this.done) return Promise.resolve({ value: undefined, done: true });
    this.opening ??= this.openStream();
    return this.opening.then(
      (stream) => {
        this.stream = stream;
        return stream.next();
      },
      (error: unknown) => {
        this.done = true;
        throw error;
      },
    );
  }

  /** `break` or an early exit: cancel the stream if it was opened, and never open it afterwards. */
  async return(): Promise<IteratorResult<unknown>> {
    this.done = true;
    if (this.stream) return (await this.stream.return?.()) ?? { value: undefined, done: true };
    if (this.opening) {
      const stream = await this.opening.catch(() => null);
      await stream?.return?.();
    }
    return { value: undefined, done: true };
  }
}

/** `promise`, or the signal's reason if it aborts first (the promise itself keeps running). */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise;
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}
