/**
 * The worker's status port (Dynamo's "system server"), like a service's admin port beside its traffic
 * port: orchestrators and people probe it, callers never do.
 *
 *   GET /live     200 while the process runs (liveness: restart me if this fails)
 *   GET /health   200 when registered and the last canary produced a token, else 503 (readiness: send me
 *                 traffic); the body says which, with the canary's latency
 *   GET /metrics  Prometheus text (dynamo_component_*)
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../util/logger.ts';
import { WorkerError } from './errors.ts';

export interface SystemServerOptions {
  host: string;
  /** 0 = a free port. */
  port: number;
  log: Logger;
  /** The /health body; `ready` decides 200 vs 503. */
  health: () => { ready: boolean } & Record<string, unknown>;
  metrics: () => Promise<{ contentType: string; body: string }>;
}

export class SystemServer {
  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  static async start(opts: SystemServerOptions): Promise<SystemServer> {
    const server = createServer((req, res) => {
      void route(opts, req, res).catch((err: unknown) => {
        opts.log.error('status endpoint failed', { path: req.url, error: err });
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
        res.end('internal error\n');
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err) =>
        reject(
          new WorkerError(
            `cannot listen on ${opts.host}:${opts.port} for the worker's status server (/health, /metrics): ` +
              `${err.message}. Pick another --system-port (0 = any free port).`,
            { cause: err },
          ),
        ),
      );
      server.listen(opts.port, opts.host, () => resolve());
    });
    return new SystemServer(server, (server.address() as AddressInfo).port);
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

async function route(opts: SystemServerOptions, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const path = (req.url ?? '/').split('?')[0];
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' }).end('method not allowed\n');
    return;
  }
  switch (path) {
    case '/live':
      sendJson(res, 200, { status: 'live' });
      return;
    case '/health': {
      const body = opts.health();
      sendJson(res, body.ready ? 200 : 503, body);
      return;
    }
    case '/metrics': {
      const { contentType, body } = await opts.metrics();
      res.writeHead(200, { 'content-type': contentType }).end(body);
      return;
    }
    default:
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: try /health, /live or /metrics\n');
  }
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(`${JSON.stringify(body)}\n`);
}
