/**
 * What a request-plane call can fail with. The frontend's reaction depends on the class, the way a proxy
 * treats "connection reset" (retry elsewhere) differently from "502 from upstream" (report it):
 *
 * - `ConnectError`            nothing was sent: try another worker.
 * - `StreamDisconnectedError` the stream ended without its FINAL frame: the worker died or the link broke
 *                             mid-stream. Migrate: resend prompt + tokens so far to another worker.
 * - `RemoteError`             the worker's handler failed and said so (FINAL with an error): report it.
 * - `RequestTimeoutError`     no frame arrived in time while the caller waited: the stream was cancelled.
 * - `FrameError`              bytes on the wire that are not a valid frame: the connection is closed.
 */
import { RemoteErrorCode } from '../../protocols/request-plane.ts';
import { DhwError } from '../../util/errors.ts';

/** Who a stream talked to, for error messages. */
export interface StreamOrigin {
  address: string;
  endpoint: string;
  requestId: string;
}

export class ConnectError extends DhwError {
  constructor(
    readonly address: string,
    detail: string,
    options?: { cause?: unknown },
  ) {
    super(
      `Cannot reach worker at ${address}: ${detail}. Check that the worker is running, that it listens on the ` +
        'address it registered in discovery, and that nothing blocks the port.',
      options,
    );
  }
}

export class StreamDisconnectedError extends DhwError {
  constructor(
    readonly origin: StreamOrigin,
    /** DATA items the caller received before the stream broke (what a migration must account for). */
    readonly itemsReceived: number,
    detail: string,
    options?: { cause?: unknown },
  ) {
    super(
      `Stream for request ${origin.requestId} to "${origin.endpoint}" at ${origin.address} ended without its ` +
        `final frame after ${itemsReceived} item(s): ${detail}. The worker died or the connection broke; ` +
        'the request can be migrated to another worker.',
      options,
    );
  }
}

export class RemoteError extends DhwError {
  /** The request field the worker named (`invalid_request`), if any. */
  readonly param: string | undefined;

  constructor(
    readonly origin: StreamOrigin,
    /** Machine-readable: see `RemoteErrorCode` in protocols/request-plane.ts, or the handler's own code. */
    readonly code: string,
    /** The handler's own message, unwrapped. */
    readonly remoteMessage: string,
    options?: { cause?: unknown; param?: string | undefined },
  ) {
    super(
      `Worker at ${origin.address} failed request ${origin.requestId} on "${origin.endpoint}" ` +
        `(${code}): ${remoteMessage}`,
      options,
    );
    this.param = options?.param;
  }
}

export class RequestTimeoutError extends DhwError {
  constructor(
    readonly origin: StreamOrigin,
    readonly timeoutMs: number,
    /** 'first': waiting for the first item (queueing + prefill); 'idle': waiting between items. */
    readonly phase: 'first' | 'idle',
    options?: { cause?: unknown },
  ) {
    super(
      `Request ${origin.requestId} to "${origin.endpoint}" at ${origin.address} got no ` +
        `${phase === 'first' ? 'first response' : 'further response'} within ${timeoutMs} ms; it was ` +
        "cancelled. Check the worker's load and logs, or raise the timeout.",
      options,
    );
  }
}

/** Bytes that are not a valid frame, or a peer breaking the protocol's rules. */
export class FrameError extends DhwError {}

export class FrameTooLargeError extends FrameError {
  readonly code = RemoteErrorCode.FrameTooLarge;
  constructor(
    readonly frameBytes: number,
    readonly maxFrameBytes: number,
    options?: { cause?: unknown },
  ) {
    super(
      `Request-plane frame of ${frameBytes} bytes exceeds the ${maxFrameBytes}-byte limit. A single request ` +
        'or response item is too big: check the prompt length, or raise maxFrameBytes on both sides.',
      options,
    );
  }
}

/** The server cannot listen on the requested address. */
export class ListenError extends DhwError {}
