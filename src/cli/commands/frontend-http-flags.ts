/**
 * The HTTP side of `dhw frontend`'s flags, shared with `dhw serve`: where to listen, body and CORS limits
 * (HTTP_FLAGS), admission control, deadlines and connection limits (ADMISSION_FLAGS), read into
 * FrontendOptions by `httpOptionsFromFlags`. Like nginx's `listen`, `client_max_body_size`, `limit_req` and
 * timeout directives, kept apart from the routing flags (frontend.ts).
 */
import {
  DEFAULT_MAX_QUEUED_REQUESTS,
  DEFAULT_OFF_THREAD_BYTES,
  DEFAULT_REQUEST_TIMEOUT_MS,
  type FrontendOptions,
  parseAllowedOrigins,
  SERVER_LIMIT_DEFAULTS,
} from '../../frontend/index.ts';
import { type FlagSpecs, numberFlag, type ParsedCommand, stringFlag } from '../args.ts';

export const HTTP_FLAGS: FlagSpecs = {
  host: { type: 'string', default: '0.0.0.0', help: 'address to listen on' },
  port: { type: 'string', default: '8000', help: 'TCP port to listen on' },
  'max-body-bytes': { type: 'string', default: String(4 << 20), help: 'largest request body (413 above)' },
  'allowed-origins': {
    type: 'string',
    help: 'CORS: browser origins allowed to call the API, comma-separated, or * (default: none)',
  },
};

/**
 * Admission control, deadlines and connection limits, shared with `dhw serve` (read by
 * `httpOptionsFromFlags`). `--max-queued-requests` is SGLang's name; the timeouts are nginx's ideas
 * (client_header_timeout, client_body_timeout), in seconds.
 */
export const ADMISSION_FLAGS: FlagSpecs = {
  'max-queued-requests': {
    type: 'string',
    default: String(DEFAULT_MAX_QUEUED_REQUESTS),
    help: 'requests per model that wait while every worker is busy; beyond: 429 + Retry-After (0 = 503 at once)',
  },
  'request-timeout': {
    type: 'string',
    default: String(DEFAULT_REQUEST_TIMEOUT_MS / 1000),
    help: 'seconds one generation request may take, queue included (504, or an error event; 0 = none)',
  },
  'header-timeout': {
    type: 'string',
    default: String(SERVER_LIMIT_DEFAULTS.headersTimeoutMs / 1000),
    help: 'seconds a client has to send its request headers (408 and close)',
  },
  'body-timeout': {
    type: 'string',
    default: String(SERVER_LIMIT_DEFAULTS.bodyTimeoutMs / 1000),
    help: 'seconds a client has to send its whole request, headers and body (408 and close)',
  },
  'max-connections': {
    type: 'string',
    default: String(SERVER_LIMIT_DEFAULTS.maxConnections),
    help: 'open HTTP connections at most; more are closed as they arrive',
  },
  'drain-timeout': {
    type: 'string',
    default: '10',
    help: 'seconds SIGTERM waits for in-flight requests before ending them with an error',
  },
  'tokenizer-threads': {
    type: 'string',
    default: '1',
    help: 'threads that tokenize long prompts off the event loop (0 = tokenize every prompt inline)',
  },
  'tokenizer-thread-min-bytes': {
    type: 'string',
    default: String(DEFAULT_OFF_THREAD_BYTES),
    help: 'prompts at least this long (bytes) are tokenized on a tokenizer thread',
  },
};

export function httpOptionsFromFlags(
  values: ParsedCommand['values'],
): Pick<
  FrontendOptions,
  | 'host'
  | 'port'
  | 'maxBodyBytes'
  | 'maxQueuedRequests'
  | 'requestTimeoutMs'
  | 'headersTimeoutMs'
  | 'bodyTimeoutMs'
  | 'maxConnections'
  | 'drainTimeoutMs'
  | 'tokenize'
  | 'allowedOrigins'
> {
  const seconds = (name: string, min: number): number | undefined => {
    const value = numberFlag(values, name, { min });
    return value === undefined ? undefined : Math.round(value * 1000);
  };
  return {
    host: stringFlag(values, 'host') ?? '0.0.0.0',
    port: numberFlag(values, 'port', { integer: true, min: 0 }) ?? 8000,
    maxBodyBytes: numberFlag(values, 'max-body-bytes', { integer: true, min: 1 }),
    maxQueuedRequests: numberFlag(values, 'max-queued-requests', { integer: true, min: 0 }),
    requestTimeoutMs: seconds('request-timeout', 0),
    headersTimeoutMs: seconds('header-timeout', 0.1),
    bodyTimeoutMs: seconds('body-timeout', 0.1),
    maxConnections: numberFlag(values, 'max-connections', { integer: true, min: 1 }),
    drainTimeoutMs: seconds('drain-timeout', 0),
    tokenize: {
      threads: numberFlag(values, 'tokenizer-threads', { integer: true, min: 0 }),
      offThreadBytes: numberFlag(values, 'tokenizer-thread-min-bytes', { integer: true, min: 0 }),
    },
    allowedOrigins: parseAllowedOrigins(stringFlag(values, 'allowed-origins')),
  };
}

export function shownUrl(host: string | undefined, url: string, port: number): string {
  return host === '0.0.0.0' || host === '::' ? `http://localhost:${port}` : url;
}
