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
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

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

/** 503: nothing can take the request now (no worker registered, or every one excluded); retry later. */
export const noWorkersAvailable = (detail: string): HttpError =>
  new HttpError(503, `no workers available: ${detail}`, 'service_unavailable', null, 'no_workers');

/** 503: every worker is past its busy threshold (Dynamo's "All workers are busy"). */
export const allWorkersBusy = (detail: string): HttpError =>
  new HttpError(503, `All workers are busy, retry later: ${detail}`, 'service_unavailable', null, 'busy');

/**
 * Map any thrown value to a status and OpenAI error body; unknown errors become 500. What leaves here is
 * client-visible, so messages that did not come from our own HTTP layer lose worker addresses and file
 * paths (redact.ts); stack traces never travel (only `message` is used).
 */
export function toErrorResponse(err: unknown): { status: number; body: ErrorBody } {
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

function describeError(err: unknown): { status: number; body: ErrorBody } {
  if (err instanceof HttpError) {
    return { status: err.status, body: errorBody(err.message, err.type, err.param, err.code) };
  }
  if (err instanceof AllWorkersBusyError) return describeError(allWorkersBusy(err.message));
  if (err instanceof NoWorkersError) {
    // The router's message already reads "no workers available: ...".
    return { status: 503, body: errorBody(err.message, 'service_unavailable', null, 'no_workers') };
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
