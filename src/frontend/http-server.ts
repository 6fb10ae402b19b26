/**
 * The OpenAI-compatible HTTP server: the reverse proxy at the front of the stack. It routes, gives each
 * request an id and an AbortSignal tied to the client's connection, runs the handler, and turns every
 * failure into OpenAI's JSON error shape. `node:http` directly: the fastest option here, and nothing
 * is hidden from the reader.
 *
 *   POST /v1/chat/completions   POST /v1/completions   GET /v1/models   GET /health   GET /live
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { InferenceEngine } from '../protocols/engine.ts';
import type { Tokenizer } from '../tokens/index.ts';
import { isLoopbackHost } from '../util/advertise-host.ts';
import { getLogger } from '../util/logger.ts';
import { ApiKeyCheck, type ApiKeyOptions } from './api-key.ts';
import {
  type HttpError,
  methodNotAllowed,
  notFound,
  requestTimedOut,
  shuttingDown,
  toErrorResponse,
} from './http-errors.ts';
import { FrontendMetrics } from './metrics.ts';
import { PromptEncoder, type PromptEncoderOptions } from './prompt-encoder.ts';
import { newRequestId, type RequestContext, type ServerState, sendJson } from './request-context.ts';
import { type RequestEnd, RequestStats } from './request-stats.ts';
import { handleChatCompletions } from './routes/chat-completions.ts';
import { handleCompletions } from './routes/completions.ts';
import {
  handleHealth,
  handleLive,
  handleMetrics,
  handleModel,
  handleModels,
  MODEL_PATH_PREFIX,
} from './routes/info.ts';
import { handleDetokenize, handleTokenize } from './routes/tokenize.ts';
import { applyCors, type CorsOptions } from './cors.ts';
import {
  DASHBOARD_ASSET_PATHS,
  handleDashboardAsset,
  handleDashboardPage,
} from './dashboard/dashboard-page.ts';
import { handleDashboardState } from './dashboard/dashboard-state.ts';
import { type ModelRegistry, StaticModelRegistry } from './served-model.ts';
import {
  applyServerLimits,
  checkingIntervalMs,
  drain,
  InFlight,
  type ServerLimits,
} from './server-limits.ts';

/** One engine in this process, served under one name. */
export interface SingleModelSource {
  engine: InferenceEngine;
  tokenizer: Tokenizer;
  /** The model name clients send and see (e.g. "fortune-llama"). */
  modelName: string;
  /** The model folder; its basename is accepted as `model` too. */
  modelDir?: string;
}

/** Whatever the models come from: discovery (ModelWatcher) or a fixed table. */
export interface RegistrySource {
  models: ModelRegistry;
}

export type HttpServerOptions = (SingleModelSource | RegistrySource) &
  ServerLimits & {
    /** Default 127.0.0.1. */
    host?: string;
    /** Default 8000; 0 picks a free port (tests). */
    port?: number;
    /** Largest request body accepted (413 above). Default 4 MiB. */
    maxBodyBytes?: number;
    /** How long close() waits for in-flight requests before cutting them (error event / 503). Default 10 s. */
    drainTimeoutMs?: number;
    /**
     * Deadline of one generation request, from arrival to its last byte, ms (`--request-timeout`): past it the
     * request is cut (504 before the response starts, an SSE error event after). 0 = none. Default 10 min.
     */
    requestTimeoutMs?: number;
    /** The registry GET /metrics renders; shared with the RoutedEngines by startFrontend. Default: a new one. */
    metrics?: FrontendMetrics;
    /** Tokenizer threads and the prompt length (bytes) from which a prompt is tokenized on one. */
    tokenize?: PromptEncoderOptions;
    /** Browser origins allowed to call the API (CORS, --allowed-origins). Default none. */
    allowedOrigins?: readonly string[];
  } & ApiKeyOptions;

export interface HttpServerHandle {
  /** e.g. "http://127.0.0.1:8000" (no trailing slash; the OpenAI base URL is `${url}/v1`). */
  url: string;
  port: number;
  /** Current request counters (the same numbers GET /health shows). */
  stats: RequestStats;
  /**
   * Stop accepting (Connection: close on open keep-alive connections), let in-flight requests finish (up to
   * drainTimeoutMs), end the rest with a `shutting_down` error, then close. Leaves the engine open.
   */
  close(): Promise<void>;
}

type Handler = (server: ServerState, ctx: RequestContext) => Promise<void> | void;

interface Route {
  method: 'GET' | 'POST';
  handler: Handler;
  /** Request id prefix; generation routes are counted in /health. */
  idPrefix: string;
  counted: boolean;
}

const ROUTES: Record<string, Route> = {
  '/v1/chat/completions': {
    method: 'POST',
    handler: handleChatCompletions,
    idPrefix: 'chatcmpl',
    counted: true,
  },
  '/v1/completions': { method: 'POST', handler: handleCompletions, idPrefix: 'cmpl', counted: true },
  '/v1/models': { method: 'GET', handler: handleModels, idPrefix: 'req', counted: false },
  '/v1/models/{id}': { method: 'GET', handler: handleModel, idPrefix: 'req', counted: false },
  '/tokenize': { method: 'POST', handler: handleTokenize, idPrefix: 'tok', counted: false },
  '/detokenize': { method: 'POST', handler: handleDetokenize, idPrefix: 'tok', counted: false },
  '/health': { method: 'GET', handler: handleHealth, idPrefix: 'req', counted: false },
  '/live': { method: 'GET', handler: handleLive, idPrefix: 'req', counted: false },
  '/metrics': { method: 'GET', handler: handleMetrics, idPrefix: 'req', counted: false },
  '/dashboard': { method: 'GET', handler: handleDashboardPage, idPrefix: 'req', counted: false },
  '/dashboard/state': { method: 'GET', handler: handleDashboardState, idPrefix: 'req', counted: false },
  ...Object.fromEntries(
    DASHBOARD_ASSET_PATHS.map((path) => [
      path,
      { method: 'GET', handler: handleDashboardAsset, idPrefix: 'req', counted: false },
    ]),
  ),
};

const log = getLogger('frontend');

/** Default `--request-timeout`: long enough for any generation this stack serves, short of forever. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 600_000;

export async function startHttpServer(options: HttpServerOptions): Promise<HttpServerHandle> {
  const models = 'models' in options ? options.models : new StaticModelRegistry(options);
  const state: ServerState = {
    models,
    maxBodyBytes: options.maxBodyBytes ?? 4 * 1024 * 1024,
    requestTimeoutMs: options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS,
    stats: new RequestStats(),
    metrics: options.metrics ?? new FrontendMetrics(),
    startedAt: Math.floor(Date.now() / 1000),
    auth: new ApiKeyCheck(options),
    prompts: new PromptEncoder(options.tokenize),
  };
  const inFlight = new InFlight();
  const cors: CorsOptions = { allowedOrigins: options.allowedOrigins ?? [] };
  const server = createServer({ connectionsCheckingInterval: checkingIntervalMs(options) }, (req, res) => {
    if (applyCors(cors, req, res)) return;
    void handleRequest(state, inFlight, server, req, res);
  });
  applyServerLimits(server, options);
  const host = options.host ?? '127.0.0.1';
  await listen(server, host, options.port ?? 8000);
  const { port } = server.address() as AddressInfo;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  if (!state.auth?.enabled && !isLoopbackHost(host))
    log.warn('listening beyond loopback without --api-key: anyone who reaches this port can use the models', {
      url,
    });
  log.info('listening', {
    url,
    models: models.list().map((m) => m.name),
    apiKey: state.auth?.enabled ? 'required' : 'none',
  });
  return {
    url,
    port,
    stats: state.stats,
    close: async () => {
      await drain(server, inFlight, state.stats, options.drainTimeoutMs ?? 10_000);
      await state.prompts.close();
    },
  };
}

function listen(server: Server, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

/**
 * A caller's own `x-request-id` (a proxy in front of us, a tracing client) is kept, so one id follows the
 * request through every hop's logs; anything odd is ignored and a fresh id is made.
 */
function clientRequestId(req: IncomingMessage): string | undefined {
  const header = req.headers['x-request-id'];
  return typeof header === 'string' && /^[A-Za-z0-9._:-]{1,128}$/.test(header) ? header : undefined;
}

/** The route table's key for a path: model ids (which may contain '/') follow `/v1/models/`. */
function routeKey(path: string): string {
  return path.startsWith(MODEL_PATH_PREFIX) && path.length > MODEL_PATH_PREFIX.length
    ? '/v1/models/{id}'
    : path;
}

function findRoute(method: string, path: string): Route {
  const route = ROUTES[routeKey(path)];
  if (!route) throw notFound(`no route for ${method} ${path}; see GET /v1/models, POST /v1/chat/completions`);
  if (route.method !== method) throw methodNotAllowed(method, path, route.method);
  return route;
}

async function handleRequest(
  state: ServerState,
  inFlight: InFlight,
  server: Server,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const method = req.method ?? 'GET';
  const path = (req.url ?? '/').split('?')[0];
  const route = ROUTES[routeKey(path)];
  const requestId = clientRequestId(req) ?? newRequestId(route?.idPrefix ?? 'req');
  // One signal for every reason to stop: the client went away (res 'close' before the response finished)
  // or the server cut the request (deadline, shutdown). `clientGone` tells them apart.
  const aborter = new AbortController();
  let clientGone = false;
  res.on('close', () => {
    if (res.writableFinished || aborter.signal.aborted) return;
    clientGone = true;
    aborter.abort();
  });
  const counted = route?.counted === true && route.method === method;
  const ctx: RequestContext = {
    requestId,
    req,
    res,
    log: log.child({ requestId }),
    signal: aborter.signal,
    created: Math.floor(Date.now() / 1000),
    outcome: {},
    authenticated: state.auth?.authenticated(req) ?? false,
  };
  if (counted) {
    ctx.cut = (reason: HttpError) => {
      if (aborter.signal.aborted) return;
      ctx.cutReason = reason;
      aborter.abort(reason);
    };
  }
  inFlight.begin(ctx);
  const deadline =
    counted && state.requestTimeoutMs > 0
      ? setTimeout(() => ctx.cut?.(requestTimedOut(state.requestTimeoutMs)), state.requestTimeoutMs)
      : undefined;
  const started = performance.now();
  // Per-request lines are info: at warn and above skip building their fields at all (the hot path).
  const logRequests = log.isEnabled('info');
  if (counted) {
    state.stats.begin();
    ctx.observation = state.metrics.begin(path);
    if (logRequests) ctx.log.info('request', { method, path });
  }
  let end: RequestEnd = 'ok';
  try {
    state.auth?.check(path, req);
    if (counted && inFlight.draining) throw shuttingDown();
    await findRoute(method, path).handler(state, ctx);
    // Cut before anything was sent (waiting in the queue, a non-streaming request): answer with why.
    if (ctx.cutReason && !res.headersSent) throw ctx.cutReason;
    if (ctx.outcome.error) end = 'server_error';
  } catch (caught) {
    const err = ctx.cutReason ?? caught;
    const { status, body, retryAfterS } = toErrorResponse(err);
    end = status >= 500 ? 'server_error' : 'client_error';
    if (clientGone) ctx.log.info('client went away', { error: err });
    else if (status === 503 || status === 429 || status === 504)
      ctx.log.warn('request refused: no capacity', { status, message: body.error.message });
    else if (status >= 500) ctx.log.error('request failed', { status, error: err });
    else ctx.log.info('request rejected', { method, path, status, message: body.error.message });
    // A 413 may leave unread body bytes on the socket: close it rather than reuse it.
    const headers: Record<string, string> = { 'x-request-id': requestId };
    if (status === 413) headers.connection = 'close';
    if (status === 401) headers['www-authenticate'] = 'Bearer';
    if (retryAfterS !== undefined) headers['retry-after'] = String(retryAfterS);
    sendJson(res, status, body, headers);
  } finally {
    clearTimeout(deadline);
    inFlight.end(ctx, server);
  }
  if (clientGone) end = 'cancelled';
  if (counted) {
    state.stats.end(end);
    ctx.observation?.end(end === 'ok' ? 'success' : end === 'cancelled' ? 'cancelled' : 'error');
    if (logRequests) {
      const ms = Math.round(performance.now() - started);
      ctx.log.info('request done', { end, duration_ms: ms, ...ctx.outcome });
    }
  }
}
