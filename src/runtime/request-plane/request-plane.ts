/**
 * The request plane as its users see it: a worker serves named endpoints, a frontend calls one at an
 * address and iterates the responses. Like an RPC framework with server streaming (gRPC's
 * `stream Response`): two implementations, one contract, checked by one conformance suite —
 * `TcpRequestPlane` (real sockets, one multiplexed connection per worker) and `InMemoryRequestPlane`
 * (embedded mode: frontend and worker in one process).
 */

/** What a handler learns about the call besides its payload. */
export interface HandlerContext {
  /** Aborted when the caller cancels, disconnects, or the server stops: stop producing and return. */
  signal: AbortSignal;
  requestId: string;
  endpoint: string;
}

/**
 * Serves one endpoint: yields the response items (each JSON-safe). A thrown error ends the stream with a
 * RemoteError at the caller (code = the error's string `code` if it has one, else 'handler_error').
 */
export type EndpointHandler = (payload: unknown, ctx: HandlerContext) => AsyncIterable<unknown>;

export interface CallOptions {
  /** Abort = cancel the stream at the worker; the iteration throws `signal.reason`. */
  signal?: AbortSignal;
  /**
   * Longest wait (ms) for the next item while the caller is waiting for it — between items and, unless
   * `firstResponseTimeoutMs` is set, for the first. Time the caller spends processing an item does not count.
   */
  timeoutMs?: number;
  /** Longest wait for the first item (queueing + prefill are slower than one decode step). */
  firstResponseTimeoutMs?: number;
  /** Travels to the handler's ctx and into error messages; a random UUID when absent. */
  requestId?: string;
  /**
   * The caller uses the items only once the stream is whole (e.g. a non-streaming HTTP response): the server
   * may deliver the items after the first several per frame (DATA_BATCH), so a worker's 8-token answer
   * crosses as 3 frames instead of 9. The caller still iterates one item at a time.
   */
  batch?: boolean;
}

export interface StopOptions {
  /** How long in-flight streams may run to completion before they are cancelled (default 5000 ms). */
  drainMs?: number;
}

/** A running set of endpoints. */
export interface ServeHandle {
  /** What callers pass to `call()`: "host:port" for TCP, "memory:N" in memory. */
  readonly address: string;
  /**
   * "unix:/path" when the server also listens on a Unix-domain socket (TcpRequestPlane with `unixSocket`):
   * callers on the same host (util/host-identity.ts) may dial it instead of `address`, same frames.
   */
  readonly localAddress?: string;
  /** Streams currently running a handler. */
  readonly activeStreams: number;
  /**
   * Stop accepting calls (new ones fail with ConnectError or RemoteError 'unavailable'), let in-flight
   * streams finish for up to `drainMs`, then cancel the rest: their callers get StreamDisconnectedError,
   * so the frontend migrates them. `drainMs: 0` is an abrupt stop (a crash, as callers see it).
   */
  stop(options?: StopOptions): Promise<void>;
}

export interface RequestPlane {
  serve(endpoints: Record<string, EndpointHandler>): Promise<ServeHandle>;
  /**
   * Call `endpoint` at `address`; the request is sent when iteration starts. Breaking out of the loop or
   * aborting `signal` cancels it at the worker. Throws ConnectError, StreamDisconnectedError, RemoteError,
   * RequestTimeoutError (all in ./errors.ts), or the signal's reason.
   */
  call(address: string, endpoint: string, payload: unknown, options?: CallOptions): AsyncIterable<unknown>;
  /** Drop client connections (servers are stopped through their handles). */
  close(): Promise<void>;
}
