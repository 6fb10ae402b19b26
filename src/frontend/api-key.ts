/**
 * API-key authentication for the HTTP frontend, as OpenAI and vLLM do it: the client sends
 * `Authorization: Bearer KEY`; a request without the right key gets 401 in OpenAI's error shape before
 * any route runs (so an unauthenticated caller cannot even learn which paths exist). Like nginx's
 * `auth_request` in front of every location except the health checks that load balancers call without
 * credentials.
 *
 * The comparison is constant-time: both keys are hashed to 32 bytes (so their lengths leak nothing either)
 * and compared with crypto.timingSafeEqual.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { HttpError } from './http-errors.ts';

/** Paths that stay reachable without a key unless configured otherwise (probes and scrapers). */
export const DEFAULT_PUBLIC_PATHS: readonly string[] = ['/health', '/live', '/metrics'];

export interface ApiKeyOptions {
  /** The key clients must send as `Authorization: Bearer KEY`; unset = no authentication. */
  apiKey?: string;
  /** Paths served without a key (default DEFAULT_PUBLIC_PATHS). Only used when `apiKey` is set. */
  publicPaths?: readonly string[];
}

/** The check one server runs on every request. */
export class ApiKeyCheck {
  private readonly digest: Buffer | null;
  private readonly publicPaths: ReadonlySet<string>;

  constructor(options: ApiKeyOptions = {}) {
    if (options.apiKey !== undefined && options.apiKey.trim() === '') {
      throw new HttpError(500, 'the API key is empty; pass a non-empty --api-key', 'configuration_error');
    }
    this.digest = options.apiKey === undefined ? null : sha256(options.apiKey);
    this.publicPaths = new Set(options.publicPaths ?? DEFAULT_PUBLIC_PATHS);
  }

  get enabled(): boolean {
    return this.digest !== null;
  }

  /** True when the request carries the right key (always false when no key is configured). */
  authenticated(req: IncomingMessage): boolean {
    if (!this.digest) return false;
    const presented = bearerToken(req);
    return presented !== null && timingSafeEqual(sha256(presented), this.digest);
  }

  /** Throws a 401 unless `path` is public, no key is configured, or the request carries the key. */
  check(path: string, req: IncomingMessage): void {
    if (!this.digest || this.publicPaths.has(path) || this.authenticated(req)) return;
    throw bearerToken(req) === null ? missingApiKey() : invalidApiKey();
  }
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

/** The token of `Authorization: Bearer TOKEN` (scheme case-insensitive), or null. */
function bearerToken(req: IncomingMessage): string | null {
  const header = req.headers.authorization;
  if (typeof header !== 'string') return null;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return match ? match[1] : null;
}

/** OpenAI's wording and code for a request without a key. */
export function missingApiKey(): HttpError {
  return new HttpError(
    401,
    "You didn't provide an API key. You need to provide your API key in an Authorization header using " +
      'Bearer auth (i.e. Authorization: Bearer YOUR_KEY).',
    'invalid_request_error',
    null,
    'missing_api_key',
  );
}

/** OpenAI's shape for a wrong key; the key itself is never echoed (OpenAI shows a masked one). */
export function invalidApiKey(): HttpError {
  return new HttpError(
    401,
    'Incorrect API key provided. Check the key this server was started with (--api-key / $DYN_API_KEY).',
    'invalid_request_error',
    null,
    'invalid_api_key',
  );
}
