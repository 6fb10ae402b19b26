/**
 * HTTP errors in OpenAI's JSON shape `{"error": {"message", "type", "param", "code"}}`. Like an nginx
 * error_page table: every failure, from a bad field to a crash, leaves as one well-formed JSON answer.
 */
import type { ErrorBody } from '../protocols/openai.ts';
import { AllWorkersBusyError, NoWorkersError } from '../router/index.ts';
import { StreamDisconnectedError } from '../runtime/request-plane/index.ts';
import { DhwError, InvalidRequestError } from '../util/errors.ts';
import { redactInternals } from './redact.ts';

export class HttpError extends DhwError {
  constructor(
    readonly status: number,
    message: string,
    readonly type: string,
    readonly param: string | null = null,
    readonly code: string | null = null,
    options?: { cause?: unknown; retryAfterS?: number },
  ) {
    super(message, options);
    this.retryAfterS = options?.retryAfterS;
  }

  /** Seconds for the `Retry-After` header (429, 503): when trying again is worth it. */
  readonly retryAfterS: number | undefined;
}

/**
 * `Retry-After` when every worker is busy: requests finish in seconds, so a second is a fair first wait
 * (clients such as the openai SDK back off further on their own).
 */
export const RETRY_AFTER_BUSY_S = 1;

/** `Retry-After` when no worker is registered: a worker takes seconds to start, register and be seen. */
export const RETRY_AFTER_NO_WORKERS_S = 5;

export const notFound = (message: string): HttpError => new HttpError(404, message, 'not_found_error');

export const methodNotAllowed = (method: string, path: string, allowed: string): HttpError =>
  new HttpError(
    405,
    `${method} is not allowed on ${path}; use ${allowed}`,
    'invalid_request_error',
    null,
    'method_not_allowed',
  );

export const payloadTooLarge = (limit: number): HttpError =>
  new HttpError(
    413,
    `request body is larger than the ${limit}-byte limit (the server's maxBodyBytes)`,
    'invalid_request_error',
    null,
    'request_too_large',
  );

export const modelNotFound = (requested: string, served: readonly string[]): HttpError =>
  new HttpError(
    404,
    `The model '${requested}' does not exist: this server serves ${served.map((s) => `'${s}'`).join(' or ')} ` +
      '(see GET /v1/models)',
    'invalid_request_error',
    'model',
    'model_not_found',
  );

export const unsupportedMediaType = (contentType: string): HttpError =>
  new HttpError(
    415,
    `Content-Type ${JSON.stringify(contentType)} is not JSON: send the body as JSON with ` +
      "'Content-Type: application/json' (curl: -H 'Content-Type: application/json')",
    'invalid_request_error',
    null,
    'unsupported_media_type',
  );

/** 503: nothing can take the request now (no worker registered, or every one excluded); retry later. */
export const noWorkersAvailable = (detail: string): HttpError =>
  new HttpError(503, `no workers available: ${detail}`, 'service_unavailable', null, 'no_workers', {
    retryAfterS: RETRY_AFTER_NO_WORKERS_S,
  });

/** 503: every worker is past its busy threshold (Dynamo's "All workers are busy"). */
export const allWorkersBusy = (detail: string, retryAfterS = RETRY_AFTER_BUSY_S): HttpError =>
  new HttpError(503, `All workers are busy, retry later: ${detail}`, 'service_unavailable', null, 'busy', {
    retryAfterS,
  });

/**
 * 429: the model's admission queue is full (`--max-queued-requests`). OpenAI answers overload with 429 and
 * `Retry-After`; its SDKs retry it with backoff.
 */
export const queueFull = (model: string, maxQueued: number, retryAfterS: number): HttpError =>
  new HttpError(
    429,
    `Too many requests for model '${model}': all workers are busy and ${maxQueued} request(s) already wait ` +
      `in its queue (--max-queued-requests); retry after ${retryAfterS} s`,
    'rate_limit_error',
    null,
    'queue_full',
    { retryAfterS },
  );

/** 504: the request passed its deadline (`--request-timeout`) before its response could start. */
export const requestTimedOut = (timeoutMs: number): HttpError =>
  new HttpError(
    504,
    `the request did not complete within the server's ${timeoutMs / 1000} s deadline (--request-timeout); ` +
      'ask for fewer tokens, or retry when the server is less loaded',
    'timeout_error',
    null,
    'request_timeout',
  );

/**
 * 503: the server is shutting down (SIGTERM); another replica, or this one restarted, will answer. `cut`:
 * the request was in flight and outlived the drain timeout.
 */
export const shuttingDown = (cut = false): HttpError =>
  new HttpError(
    503,
    cut
      ? 'the server shut down before this request finished (it outlived the drain timeout, --drain-timeout); retry it'
      : 'the server is shutting down and takes no new requests; retry (another replica will answer)',
    'service_unavailable',
    null,
    'shutting_down',
    { retryAfterS: RETRY_AFTER_BUSY_S },
  );

export interface ErrorResponse {
  status: number;
  body: ErrorBody;
  /** Seconds for `Retry-After` (429 and 503 answers). */
  retryAfterS?: number;
}

/**
 * Map any thrown value to a status and OpenAI error body; unknown errors become 500. What leaves here is
 * client-visible, so messages that did not come from our own HTTP layer lose worker addresses and file
 * paths (redact.ts); stack traces never travel (only `message` is used).
 */
export function toErrorResponse(err: unknown): ErrorResponse {
  if (err instanceof HttpError) return describeError(err);
  if (err instanceof StreamDisconnectedError) return describeError(workerFailedMidStream(err));
  const response = describeError(err);
  response.body.error.message = redactInternals(response.body.error.message);
  return response;
}

/**
 * 502: the worker died or its connection broke, and the request was not moved elsewhere (migration off
 * or its limit reached). Names neither the worker nor its address: those are in the frontend's log.
 */
function workerFailedMidStream(err: StreamDisconnectedError): HttpError {
  return new HttpError(
    502,
    `the worker serving this request failed after ${err.itemsReceived} output item(s) and the request was ` +
      "not moved to another worker (the frontend's --migration-limit is 0 or was reached); retry it",
    'internal_server_error',
    null,
    'worker_failed',
  );
}

function describeError(err: unknown): ErrorResponse {
  if (err instanceof HttpError) {
    const body = errorBody(err.message, err.type, err.param, err.code);
    return { status: err.status, body, retryAfterS: err.retryAfterS };
  }
  if (err instanceof AllWorkersBusyError) return describeError(allWorkersBusy(err.message));
  if (err instanceof NoWorkersError) {
    // The router's message already reads "no workers available: ...".
    const body = errorBody(err.message, 'service_unavailable', null, 'no_workers');
    return { status: 503, body, retryAfterS: RETRY_AFTER_NO_WORKERS_S };
  }
  if (err instanceof InvalidRequestError) {
    return { status: 400, body: errorBody(err.message, 'invalid_request_error', err.param, err.code) };
  }
  const message = err instanceof Error ? err.message : String(err);
  return { status: 500, body: errorBody(`internal error: ${message}`, 'internal_server_error', null, null) };
}

export function errorBody(
  message: string,
  type: string,
  param: string | null,
  code: string | null,
): ErrorBody {
  return { error: { message, type, param, code } };
}
