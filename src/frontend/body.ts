/**
 * Reads a request body as JSON with a size cap, like nginx's client_max_body_size: a body over the limit
 * is a 413 (checked from Content-Length up front and while streaming), bytes that are not UTF-8 or text
 * that is not JSON are a 400.
 */
import type { IncomingMessage } from 'node:http';
import { InvalidRequestError } from '../util/errors.ts';
import { payloadTooLarge } from './http-errors.ts';

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

export async function readJsonBody(req: IncomingMessage, maxBytes: number): Promise<unknown> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > maxBytes) throw payloadTooLarge(maxBytes);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBytes) throw payloadTooLarge(maxBytes);
    chunks.push(chunk);
  }
  return parseJson(Buffer.concat(chunks));
}

function parseJson(bytes: Buffer): unknown {
  let text: string;
  try {
    text = strictUtf8.decode(bytes);
  } catch {
    throw new InvalidRequestError('request body is not valid UTF-8: send JSON encoded as UTF-8');
  }
  if (text.trim() === '') throw new InvalidRequestError('request body is empty: send a JSON object');
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new InvalidRequestError(`request body is not valid JSON: ${(err as Error).message}`, null, null, {
      cause: err,
    });
  }
}
