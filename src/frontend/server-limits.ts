/**
 * The HTTP server's own limits and its graceful stop, like nginx's `client_header_timeout`,
 * `client_body_timeout`, `worker_connections` and `nginx -s quit`:
 *
 *   headersTimeoutMs   a client that has not sent its request headers by then is answered 408 and closed
 *   bodyTimeoutMs      the whole request (headers + body) must arrive within this: a slow or endless body
 *                      (slowloris) cannot hold a connection
 *   maxConnections     connections beyond it are closed as they arrive
 *
 * Drain (SIGTERM → `close()`): stop listening, answer `Connection: close` on every response from then on
 * (keep-alive clients reconnect elsewhere), refuse new generation requests that still arrive on open
 * connections with 503 `shutting_down`, let in-flight requests finish for `drainTimeoutMs`, then cut the
 * rest: each one ends with an error event (streams) or a 503 (not yet answered), never a silent reset.
 */
import type { Server } from 'node:http';
import { getLogger } from '../util/logger.ts';
import { shuttingDown } from './http-errors.ts';
import type { RequestContext } from './request-context.ts';
import type { RequestStats } from './request-stats.ts';

export interface ServerLimits {
  /** Time to receive a request's headers, ms (default 10 s). */
  headersTimeoutMs?: number;
  /** Time to receive a whole request, headers and body, ms (default 15 s; at least headersTimeoutMs). */
  bodyTimeoutMs?: number;
  /** Open connections at most (default 4096); more are closed as they arrive. */
  maxConnections?: number;
}

export const SERVER_LIMIT_DEFAULTS = {
  headersTimeoutMs: 10_000,
  bodyTimeoutMs: 15_000,
  maxConnections: 4096,
} as const;

/** After the drain timeout, how long cut requests get to write their error event before sockets close. */
const CUT_GRACE_MS = 1000;

const log = getLogger('frontend');

/**
 * Node's own checks, set on the server: `headersTimeout` and `requestTimeout` (checked every
 * `connectionsCheckingInterval`, set at creation), `maxConnections`.
 */
export function applyServerLimits(server: Server, limits: ServerLimits): void {
  const headersTimeoutMs = limits.headersTimeoutMs ?? SERVER_LIMIT_DEFAULTS.headersTimeoutMs;
  const bodyTimeoutMs = limits.bodyTimeoutMs ?? SERVER_LIMIT_DEFAULTS.bodyTimeoutMs;
  server.headersTimeout = headersTimeoutMs;
  server.requestTimeout = Math.max(bodyTimeoutMs, headersTimeoutMs);
  server.maxConnections = limits.maxConnections ?? SERVER_LIMIT_DEFAULTS.maxConnections;
}

/** How often Node checks the header/body deadlines: a tenth of the shorter one, at most 1 s. */
export function checkingIntervalMs(limits: ServerLimits): number {
  const headers = limits.headersTimeoutMs ?? SERVER_LIMIT_DEFAULTS.headersTimeoutMs;
  const body = limits.bodyTimeoutMs ?? SERVER_LIMIT_DEFAULTS.bodyTimeoutMs;
  return Math.max(10, Math.min(1000, Math.floor(Math.min(headers, body) / 10)));
}

/** The requests in progress and whether the server is draining: what `drain` needs to finish or cut them. */
export class InFlight {
  draining = false;
  readonly requests = new Set<RequestContext>();

  /** A request starts: while draining, its response will close the connection. */
  begin(ctx: RequestContext): void {
    this.requests.add(ctx);
    if (this.draining) ctx.res.setHeader('connection', 'close');
  }

  end(ctx: RequestContext, server: Server): void {
    this.requests.delete(ctx);
    // Its connection may now be idle: while draining, idle connections are closed at once.
    if (this.draining) server.closeIdleConnections();
  }
}

/**
 * Graceful stop: refuse new work, wait up to `drainTimeoutMs` for in-flight generation requests, then cut
 * what is left with a `shutting_down` error and close every connection.
 */
export async function drain(
  server: Server,
  inFlight: InFlight,
  stats: RequestStats,
  drainTimeoutMs: number,
): Promise<void> {
  inFlight.draining = true;
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  for (const ctx of inFlight.requests) {
    if (!ctx.res.headersSent) ctx.res.setHeader('connection', 'close');
  }
  server.closeIdleConnections();
  const waiting = stats.snapshot().in_flight;
  if (waiting > 0)
    log.info('draining: waiting for in-flight requests', { inFlight: waiting, drainTimeoutMs });
  if (!(await settled(stats.idle(), drainTimeoutMs))) {
    const cut = [...inFlight.requests].filter((ctx) => ctx.cut !== undefined);
    log.warn('drain timeout: ending the requests still in flight with an error', {
      requests: cut.length,
      drainTimeoutMs,
    });
    for (const ctx of cut) ctx.cut?.(shuttingDown(true));
    await settled(stats.idle(), CUT_GRACE_MS);
  }
  server.closeAllConnections();
  await closed;
  log.info('closed');
}

/** Whether `promise` settled within `ms`. */
async function settled(promise: Promise<void>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  const done = await Promise.race([promise.then(() => true as const), timeout]);
  clearTimeout(timer);
  return done;
}
