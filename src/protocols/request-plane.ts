/**
 * Wire format of the request plane (docs/design-notes.md#request-plane): how a frontend calls a worker's
 * endpoint over one TCP
 * connection and gets a stream of responses back. Like HTTP/2, many request streams share one connection,
 * told apart by a stream id; unlike HTTP/2, each frame is one self-delimited JSON message.
 *
 *   0          4       5            9                              4 + length
 *   +----------+-------+------------+------------------------------+
 *   |  length  | type  |  streamId  |  payload                     |
 *   |  u32 BE  |  u8   |   u32 BE   |  UTF-8 JSON, or empty        |
 *   +----------+-------+------------+------------------------------+
 *   length = 5 + payload bytes (everything after the length field itself)
 *
 * One stream, client → server and back:
 *
 *   client                                   server
 *     REQUEST  {endpoint, requestId, window, payload}  ──▶  handler starts
 *              ◀──  DATA  item                  (one per yielded item, at most `window` unacknowledged)
 *     WINDOW   {credit: n}  ──▶                 (the consumer took n items: send n more)
 *              ◀──  DATA  item ...
 *              ◀──  FINAL {} | {error: {code, message}}   (end of stream; nothing follows)
 *
 * A REQUEST with `batch: true` (the caller uses the response only once it is whole: a non-streaming HTTP
 * request) lets the server send the items after the first several per frame: DATA_BATCH [item, ...], each
 * item counted against the window as if it had its own DATA frame.
 *     CANCEL   (empty)  ──▶                     (client gave up: abort the handler, send nothing more)
 *     PING     (opaque, stream 0)  ──▶  ◀──  PONG (same bytes)     (liveness / round-trip time)
 *
 * A stream that ends without its FINAL (connection dropped, worker died) is "disconnected": the frontend
 * may migrate it to another worker. Types only, plus guards for validating frames where they enter a process.
 */

/** Bytes in the length prefix. */
export const FRAME_LENGTH_BYTES = 4;
/** Bytes from the start of a frame to its payload: length (4) + type (1) + streamId (4). */
export const FRAME_HEADER_BYTES = 9;
/** Largest whole frame (header + payload) accepted by default: 16 MiB, far above a 128k-token prompt. */
export const DEFAULT_MAX_FRAME_BYTES = 16 * 1024 * 1024;
/** Stream ids are u32; 0 is reserved for connection-level frames (PING/PONG). */
export const MAX_STREAM_ID = 0xffff_ffff;

export const FrameType = {
  /** client → server: open a stream (RequestFramePayload). */
  Request: 1,
  /** server → client: one response item (any JSON value). */
  Data: 2,
  /** server → client: end of stream (FinalFramePayload). */
  Final: 3,
  /** client → server: stop this stream (empty payload). */
  Cancel: 4,
  /** client → server: flow-control credit (WindowFramePayload), like HTTP/2 WINDOW_UPDATE counted in frames. */
  Window: 5,
  /** client → server, stream 0: liveness probe; the payload is echoed back in a PONG. */
  Ping: 6,
  /** server → client, stream 0: answer to a PING. */
  Pong: 7,
  /** server → client: several response items of one `batch` stream, as a JSON array (never empty). */
  DataBatch: 8,
} as const;
export type FrameType = (typeof FrameType)[keyof typeof FrameType];

const FRAME_TYPE_NAMES: Record<number, string> = Object.fromEntries(
  Object.entries(FrameType).map(([name, value]) => [value, name.toUpperCase()]),
);

export function isFrameType(value: number): value is FrameType {
  return value in FRAME_TYPE_NAMES;
}

/** "DATA", "FINAL", ... for logs and error messages. */
export function frameTypeName(type: number): string {
  return FRAME_TYPE_NAMES[type] ?? `UNKNOWN(${type})`;
}

export interface RequestFramePayload {
  /** Endpoint name on the worker, e.g. "generate". */
  endpoint: string;
  /** Follows the request across hops (logs, the handler's ctx). */
  requestId: string;
  /** Initial flow-control credit: DATA frames the server may send before the next WINDOW. */
  window: number;
  /** The endpoint's input, e.g. an EngineRequest. */
  payload: unknown;
  /**
   * The caller uses the items only once the stream is whole: after the first item (sent alone, as it is the
   * time to first token) the server may hold items and send them in DATA_BATCH frames. Absent = one DATA
   * frame per item, as soon as it exists. Servers that do not know the field send DATA frames: still correct.
   */
  batch?: boolean;
}

/** Why a stream failed on the worker side. */
export interface RemoteErrorInfo {
  /** A `RemoteErrorCode`; typed as a string because it comes off the wire (an unknown one is kept as sent). */
  code: string;
  message: string;
  /** The request field an `invalid_request` is about (OpenAI's `param`), when the handler named one. */
  param?: string;
}

export interface FinalFramePayload {
  /** Absent when the handler finished normally. */
  error?: RemoteErrorInfo;
}

export interface WindowFramePayload {
  /** More DATA frames the server may send (a positive integer). */
  credit: number;
}

/**
 * Every code a FINAL's error carries, one list for both sides: servers set them, clients branch on them.
 * A handler's error travels with its own string `code` property when it has one (the worker uses
 * `InvalidRequest`), else as `HandlerError`.
 */
export const RemoteErrorCode = {
  /** The handler threw or its iterator failed. */
  HandlerError: 'handler_error',
  /** No handler registered under that endpoint name. */
  UnknownEndpoint: 'unknown_endpoint',
  /** The worker is draining for shutdown; nothing was started, so retrying elsewhere is safe. */
  Unavailable: 'unavailable',
  /** A response item would not fit in one frame. */
  FrameTooLarge: 'frame_too_large',
  /** The handler refused the payload as sent (malformed, or refused by the engine): HTTP 400 at the frontend. */
  InvalidRequest: 'invalid_request',
} as const;
export type RemoteErrorCode = (typeof RemoteErrorCode)[keyof typeof RemoteErrorCode];

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isPositiveInteger(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value > 0;
}

export function isRequestFramePayload(value: unknown): value is RequestFramePayload {
  return (
    isObject(value) &&
    typeof value.endpoint === 'string' &&
    value.endpoint.length > 0 &&
    typeof value.requestId === 'string' &&
    isPositiveInteger(value.window) &&
    'payload' in value &&
    (value.batch === undefined || typeof value.batch === 'boolean')
  );
}

export function isRemoteErrorInfo(value: unknown): value is RemoteErrorInfo {
  return isObject(value) && typeof value.code === 'string' && typeof value.message === 'string';
}

export function isFinalFramePayload(value: unknown): value is FinalFramePayload {
  return isObject(value) && (value.error === undefined || isRemoteErrorInfo(value.error));
}

export function isWindowFramePayload(value: unknown): value is WindowFramePayload {
  return isObject(value) && isPositiveInteger(value.credit);
}
