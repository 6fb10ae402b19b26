/**
 * Reads a request body as JSON with guards, like nginx's client_max_body_size in front of a WAF:
 *
 *   Content-Type not JSON      → 415 (a browser's cross-site "simple" POST is text/plain or a form: it must
 *                                 not be served; a missing Content-Type is accepted, as curl scripts send)
 *   body over the size limit   → 413 (checked from Content-Length up front and while streaming)
 *   not UTF-8, not JSON        → 400
 *   nested deeper than a limit → 400, checked on the bytes BEFORE JSON.parse (which recurses per level)
 *
 * How long the body may take to arrive is the HTTP server's `requestTimeout` (http-server.ts).
 */
import type { IncomingMessage } from 'node:http';
import { InvalidRequestError } from '../util/errors.ts';
import { payloadTooLarge, unsupportedMediaType } from './http-errors.ts';
import { depthExceededAt } from './json-depth.ts';

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Deepest nesting accepted. OpenAI bodies nest a handful of levels (messages → content parts → image_url;
 * a tool's JSON schema maybe a dozen more); 64 leaves room for any real schema and keeps JSON.parse far
 * from V8's stack limit (thousands of levels).
 */
export const MAX_JSON_DEPTH = 64;

export interface BodyLimits {
  maxBytes: number;
  /** Deepest `[`/`{` nesting accepted (default MAX_JSON_DEPTH). */
  maxDepth?: number;
}

export async function readJsonBody(req: IncomingMessage, limits: number | BodyLimits): Promise<unknown> {
  const { maxBytes, maxDepth = MAX_JSON_DEPTH } = typeof limits === 'number' ? { maxBytes: limits } : limits;
  checkContentType(req.headers['content-type']);
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > maxBytes) throw payloadTooLarge(maxBytes);
  // A declared length within the limit cannot be exceeded (the HTTP parser stops at it): read with events,
  // not an async iterator, which cost a promise per chunk and an iterator object per request.
  if (req.headers['content-length'] !== undefined) return parseJson(await readDeclared(req), maxDepth);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBytes) throw payloadTooLarge(maxBytes);
    chunks.push(chunk);
  }
  return parseJson(Buffer.concat(chunks), maxDepth);
}

/** The whole body of a request with a Content-Length; rejects if the connection closes before its end. */
function readDeclared(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const onData = (chunk: Buffer) => chunks.push(chunk);
    const settle = (error: Error | null) => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', settle);
      req.off('close', onClose);
      if (error) reject(error);
      else resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks));
    };
    const onEnd = () => settle(null);
    const onClose = () => settle(new Error('the client closed the connection before the request body ended'));
    req.on('data', onData);
    req.once('end', onEnd);
    req.once('error', settle);
    req.once('close', onClose);
  });
}

/** `application/json`, or any `+json` type, with or without parameters; absent is accepted. */
export function isJsonContentType(header: string | undefined): boolean {
  if (header === undefined) return true;
  const type = header.split(';')[0].trim().toLowerCase();
  return type === 'application/json' || (type.startsWith('application/') && type.endsWith('+json'));
}

function checkContentType(header: string | undefined): void {
  if (!isJsonContentType(header)) throw unsupportedMediaType(header ?? '');
}

function parseJson(bytes: Buffer, maxDepth: number): unknown {
  let text: string;
  try {
    text = strictUtf8.decode(bytes);
  } catch {
    throw new InvalidRequestError('request body is not valid UTF-8: send JSON encoded as UTF-8');
  }
  if (text.trim() === '') throw new InvalidRequestError('request body is empty: send a JSON object');
  const at = depthExceededAt(bytes, maxDepth);
  if (at >= 0) {
    throw new InvalidRequestError(
      `request body nests JSON arrays/objects more than ${maxDepth} levels deep (at byte ${at}): ` +
        'no OpenAI request needs that; flatten it',
      null,
      'json_too_deep',
    );
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new InvalidRequestError(`request body is not valid JSON: ${(err as Error).message}`, null, null, {
      cause: err,
    });
  }
}
