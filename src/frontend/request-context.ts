/**
 * What one HTTP request carries through the handlers: its id (in every log line and the `x-request-id`
 * header), a logger bound to that id, an AbortSignal that fires when the client goes away, and the
 * response. Like the per-connection context a proxy threads through its filter chain.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { randomHex } from '../util/entropy-pool.ts';
import type { Logger } from '../util/logger.ts';
import type { ApiKeyCheck } from './api-key.ts';
import type { HttpError } from './http-errors.ts';
import type { FrontendMetrics, RequestObservation } from './metrics.ts';
import type { PromptEncoder } from './prompt-encoder.ts';
import type { RequestStats } from './request-stats.ts';
import type { ModelRegistry } from './served-model.ts';

/** Shared by every request on one server. */
export interface ServerState {
  /** The models this server can serve right now (fixed, or discovered from workers). */
  models: ModelRegistry;
  maxBodyBytes: number;
  /** Per-request deadline for generation requests, ms (`--request-timeout`); 0 = none. */
  requestTimeoutMs: number;
  stats: RequestStats;
  metrics: FrontendMetrics;
  /** Unix seconds when the server started. */
  startedAt: number;
  /** --api-key: who may call which path (absent = everyone, everything). */
  auth?: ApiKeyCheck;
  /** Prompt → token ids: size bound first, long texts on tokenizer threads. */
  prompts: PromptEncoder;
}

export interface RequestContext {
  requestId: string;
  req: IncomingMessage;
  res: ServerResponse;
  log: Logger;
  /**
   * Aborted when the client disconnects before the response is complete, or when the server cuts the
   * request (`cut`: its deadline passed, the server is shutting down).
   */
  signal: AbortSignal;
  /**
   * Generation routes: end this request on the server's side. Aborts `signal` (the engine request stops)
   * and records why; the client gets `reason` as the HTTP error, or as an SSE error event once streaming.
   */
  cut?: (reason: HttpError) => void;
  /** Why the server cut the request, once it did. */
  cutReason?: HttpError;
  /** Unix seconds, the `created` field of responses. */
  created: number;
  /** Timing for /metrics (generation routes only). */
  observation?: RequestObservation;
  /** Filled in by generation handlers for the closing log line. */
  outcome: Record<string, unknown>;
  /** The request carried the server's API key (false when none is configured). */
  authenticated?: boolean;
}

/** `chatcmpl-` / `cmpl-` + 24 hex digits, like OpenAI's ids. */
export function newRequestId(prefix: string): string {
  return `${prefix}-${randomHex(12)}`;
}

export function sendJson(res: ServerResponse, status: number, body: unknown, extraHeaders = {}): void {
  if (res.headersSent || res.destroyed) return;
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    ...extraHeaders,
  });
  res.end(text);
}
