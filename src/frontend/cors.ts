/**
 * CORS for browser clients (`--allowed-origins`, vLLM's flag): off by default, so a web page on another
 * origin cannot read our answers. With origins allowed, a matching `Origin` gets
 * `Access-Control-Allow-Origin` on every answer, and a preflight (`OPTIONS` with
 * `Access-Control-Request-Method`) is answered 204 with the methods and headers a client of the OpenAI API
 * sends. Like the `add_header Access-Control-*` block of an nginx location.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

export interface CorsOptions {
  /** Origins allowed to read answers ("https://app.example.com"), or ["*"] for any. Empty = CORS off. */
  allowedOrigins: readonly string[];
}

const ALLOWED_METHODS = 'GET, POST, OPTIONS';
const ALLOWED_HEADERS = 'authorization, content-type, x-request-id, openai-organization, openai-project';

/** The value for Access-Control-Allow-Origin, or undefined when this origin is not allowed. */
export function allowedOrigin(cors: CorsOptions, origin: string | undefined): string | undefined {
  if (origin === undefined || cors.allowedOrigins.length === 0) return undefined;
  if (cors.allowedOrigins.includes('*')) return '*';
  return cors.allowedOrigins.includes(origin) ? origin : undefined;
}

/**
 * Set the CORS headers for this request; returns true when it was a preflight that is now answered
 * (the caller stops there).
 */
export function applyCors(cors: CorsOptions, req: IncomingMessage, res: ServerResponse): boolean {
  const origin = allowedOrigin(cors, req.headers.origin);
  if (origin === undefined) return false;
  res.setHeader('access-control-allow-origin', origin);
  if (origin !== '*') res.setHeader('vary', 'origin');
  res.setHeader('access-control-expose-headers', 'x-request-id, retry-after');
  if (req.method === 'OPTIONS' && req.headers['access-control-request-method'] !== undefined) {
    res.writeHead(204, {
      'access-control-allow-methods': ALLOWED_METHODS,
      'access-control-allow-headers': ALLOWED_HEADERS,
      'access-control-max-age': '600',
      'content-length': 0,
    });
    res.end();
    return true;
  }
  return false;
}

/** `--allowed-origins a,b` (or "*") → the allowed list. */
export function parseAllowedOrigins(spec: string | undefined): string[] {
  if (spec === undefined) return [];
  return spec
    .split(',')
    .map((o) => o.trim().replace(/\/+$/, ''))
    .filter(Boolean);
}
