/**
 * HTTP/1.1 by hand over a TCP socket, like `curl -v --raw` or `nc`: we write the request bytes ourselves and
 * record every read from the socket with its arrival time. That shows the three layers of a streamed
 * completion that a client library hides:
 *
 *   TCP reads      whatever the kernel handed us (one read may hold several chunks, or half of one)
 *   HTTP chunks    `Transfer-Encoding: chunked`: "<size in hex>\r\n<bytes>\r\n" ... "0\r\n\r\n"
 *   SSE events     inside the body: "data: <json>\n\n" ... "data: [DONE]\n\n"
 */
import { connect } from 'node:net';
import { performance } from 'node:perf_hooks';

export interface RawRead {
  /** Milliseconds after the request was written. */
  atMs: number;
  bytes: Buffer;
}

export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  reads: RawRead[];
  /** The body with the chunked framing removed. */
  body: string;
  /** Each HTTP chunk's payload, in order (empty when the body was not chunked). */
  chunks: { atMs: number; text: string }[];
}

/**
 * Send one request on a fresh connection and read until the response is complete (the chunked body's
 * terminating `0\r\n\r\n`, or Content-Length bytes), then close the socket: an SSE server may answer
 * `Connection: keep-alive` even when asked to close, like many proxies do.
 */
export function rawRequest(
  baseUrl: string,
  method: string,
  path: string,
  body?: string,
  headers: Record<string, string> = {},
): Promise<RawResponse> {
  const url = new URL(baseUrl);
  const head = [
    `${method} ${path} HTTP/1.1`,
    `Host: ${url.host}`,
    'Connection: close',
    ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
    ...(body === undefined
      ? []
      : ['Content-Type: application/json', `Content-Length: ${Buffer.byteLength(body)}`]),
  ].join('\r\n');
  return new Promise((resolve, reject) => {
    const reads: RawRead[] = [];
    const socket = connect(Number(url.port), url.hostname);
    let sentAt = 0;
    socket.on('connect', () => {
      sentAt = performance.now();
      socket.write(`${head}\r\n\r\n${body ?? ''}`);
    });
    socket.on('data', (bytes: Buffer) => {
      reads.push({ atMs: performance.now() - sentAt, bytes });
      if (isComplete(Buffer.concat(reads.map((r) => r.bytes)))) socket.destroy();
    });
    socket.on('error', reject);
    socket.on('close', () => {
      try {
        resolve(parseResponse(reads));
      } catch (err) {
        reject(err);
      }
    });
  });
}

function isComplete(all: Buffer): boolean {
  const split = all.indexOf('\r\n\r\n');
  if (split < 0) return false;
  const head = all.subarray(0, split).toString('latin1').toLowerCase();
  if (head.includes('transfer-encoding: chunked')) return all.subarray(-5).toString('latin1') === '0\r\n\r\n';
  const length = /content-length: (\d+)/.exec(head)?.[1];
  return length !== undefined && all.length - split - 4 >= Number(length);
}

function parseResponse(reads: RawRead[]): RawResponse {
  const all = Buffer.concat(reads.map((r) => r.bytes));
  const split = all.indexOf('\r\n\r\n');
  if (split < 0) throw new Error(`no HTTP header in the response (${all.length} bytes)`);
  const [statusLine, ...headerLines] = all.subarray(0, split).toString('latin1').split('\r\n');
  const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(statusLine ?? '')?.[1]);
  const headers = Object.fromEntries(
    headerLines.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]),
  );
  const rest = all.subarray(split + 4);
  if (headers['transfer-encoding'] !== 'chunked') {
    return { status, headers, reads, body: rest.toString('utf8'), chunks: [] };
  }
  const chunks = dechunk(rest, reads, split + 4);
  return { status, headers, reads, body: chunks.map((c) => c.text).join(''), chunks };
}

/** Undo `Transfer-Encoding: chunked`, stamping each chunk with the time its last byte arrived. */
function dechunk(body: Buffer, reads: RawRead[], bodyOffset: number): { atMs: number; text: string }[] {
  const arrival = (offset: number) => {
    let seen = 0;
    for (const read of reads) {
      seen += read.bytes.length;
      if (seen > offset) return read.atMs;
    }
    return reads.at(-1)?.atMs ?? 0;
  };
  const chunks: { atMs: number; text: string }[] = [];
  let at = 0;
  for (;;) {
    const lineEnd = body.indexOf('\r\n', at);
    if (lineEnd < 0) break;
    const size = Number.parseInt(body.subarray(at, lineEnd).toString('latin1'), 16);
    if (!Number.isFinite(size) || size === 0) break;
    const start = lineEnd + 2;
    chunks.push({
      atMs: arrival(bodyOffset + start + size - 1),
      text: body.subarray(start, start + size).toString('utf8'),
    });
    at = start + size + 2;
  }
  return chunks;
}

/** The `data:` payloads of an SSE body, in order. */
export function sseEvents(body: string): string[] {
  return body
    .split('\n\n')
    .map((event) => event.trim())
    .filter((event) => event.startsWith('data: '))
    .map((event) => event.slice('data: '.length));
}
