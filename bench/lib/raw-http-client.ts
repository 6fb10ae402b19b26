/**
 * A load client that costs little CPU per request, so a capacity benchmark measures the server and not
 * itself: like `wrk`, each connection sends one prebuilt request (the same bytes every time) over a
 * keep-alive socket and reads only the status line and `content-length` of the answer. node:http's client
 * spent 100-300 µs of CPU per request here (agent bookkeeping, header objects, streams), as much as a
 * third of what the frontend itself spends.
 *
 * Only what our frontend answers is understood: HTTP/1.1 with a `content-length` body (non-streaming
 * JSON); anything else (chunked, a closed connection) rejects with a message saying so.
 */
import { connect, type Socket } from 'node:net';

const HEADER_END = Buffer.from('\r\n\r\n');
const CONTENT_LENGTH = /\r\ncontent-length:\s*(\d+)/i;

/** `POST path` with a JSON body, as the exact bytes a connection sends for every request. */
export function postRequestBytes(url: URL, body: string): Buffer {
  const payload = Buffer.from(body, 'utf8');
  const head =
    `POST ${url.pathname} HTTP/1.1\r\nhost: ${url.host}\r\ncontent-type: application/json\r\n` +
    `content-length: ${payload.length}\r\nconnection: keep-alive\r\n\r\n`;
  return Buffer.concat([Buffer.from(head, 'latin1'), payload]);
}

/** One keep-alive connection that sends `request` and resolves with each answer's status code. */
export class RawHttpConnection {
  private buffer: Buffer = Buffer.alloc(0);
  private pending: { resolve: (status: number) => void; reject: (error: Error) => void } | null = null;
  private closedError: Error | null = null;

  private constructor(
    private readonly socket: Socket,
    private readonly request: Buffer,
  ) {
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    const fail = (error: Error) => {
      this.closedError ??= error;
      this.pending?.reject(this.closedError);
      this.pending = null;
    };
    socket.on('error', fail);
    socket.on('close', () => fail(new Error('the server closed the connection')));
  }

  static open(url: URL, request: Buffer): Promise<RawHttpConnection> {
    return new Promise((resolve, reject) => {
      const socket = connect({ host: url.hostname, port: Number(url.port) });
      socket.once('error', reject);
      socket.once('connect', () => {
        socket.off('error', reject);
        resolve(new RawHttpConnection(socket, request));
      });
    });
  }

  /** Send the request; resolves with the status code once the whole answer has arrived. */
  send(): Promise<number> {
    if (this.closedError) return Promise.reject(this.closedError);
    if (this.pending) return Promise.reject(new Error('RawHttpConnection: one request at a time'));
    return new Promise((resolve, reject) => {
      this.pending = { resolve, reject };
      this.socket.write(this.request);
    });
  }

  close(): void {
    this.socket.destroy();
  }

  private onData(chunk: Buffer): void {
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    const headerEnd = this.buffer.indexOf(HEADER_END);
    if (headerEnd < 0) return;
    const head = this.buffer.toString('latin1', 0, headerEnd);
    const length = CONTENT_LENGTH.exec(head);
    if (!length) {
      this.failProtocol(`an answer without content-length (chunked?): ${head.split('\r\n')[0]}`);
      return;
    }
    const total = headerEnd + HEADER_END.length + Number(length[1]);
    if (this.buffer.length < total) return;
    if (this.buffer.length > total) {
      this.failProtocol('bytes after the answer (the server sent more than one response)');
      return;
    }
    this.buffer = Buffer.alloc(0);
    const status = Number(head.slice(9, 12));
    const pending = this.pending;
    this.pending = null;
    pending?.resolve(status);
  }

  private failProtocol(message: string): void {
    this.closedError = new Error(`RawHttpConnection: ${message}`);
    this.pending?.reject(this.closedError);
    this.pending = null;
    this.socket.destroy();
  }
}
