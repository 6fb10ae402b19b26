/**
 * Length-prefixed frames over one TCP connection, read with `await link.read()`:
 *
 *   [u32 payload length][u8 type][payload]
 *
 * Like a tiny message queue on a byte stream: bytes are buffered as they arrive and cut into frames; a
 * reader waits for the next one. A closed or broken connection, or a read waiting past the deadline,
 * fails every pending and later read with a TpGroupError naming the peer, so a dead rank never hangs
 * the group.
 */
import type { Socket } from 'node:net';
import { TpGroupError } from './all-reduce.ts';

export const FRAME = { HELLO: 1, INIT: 2, STEP: 3, DATA: 4, STOP: 5 } as const;

export interface Frame {
  type: number;
  payload: Buffer;
}

const HEADER = 5;

export class FramedSocket {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private readonly frames: Frame[] = [];
  private waiter: {
    resolve: (f: Frame) => void;
    reject: (e: Error) => void;
    timer: NodeJS.Timeout | undefined;
  } | null = null;
  private failure: Error | null = null;
  bytesWritten = 0;

  constructor(
    readonly socket: Socket,
    readonly peer: string,
    private readonly timeoutMs: number,
  ) {
    socket.setNoDelay(true);
    socket.on('data', (b: Buffer) => this.onData(b));
    socket.on('error', (err) => this.fail(new TpGroupError(`link to ${peer} broke: ${err.message}`)));
    socket.on('close', () =>
      this.fail(new TpGroupError(`link to ${peer} closed (the rank process exited or was stopped)`)),
    );
  }

  send(type: number, payload: Uint8Array): void {
    if (this.failure) throw this.failure;
    const header = Buffer.allocUnsafe(HEADER);
    header.writeUInt32LE(payload.byteLength, 0);
    header.writeUInt8(type, 4);
    this.socket.write(header);
    this.socket.write(payload);
    this.bytesWritten += HEADER + payload.byteLength;
  }

  /** The next frame; rejects when the link fails or nothing comes within `timeoutMs` (0: wait forever). */
  read(timeoutMs = this.timeoutMs): Promise<Frame> {
    const ready = this.frames.shift();
    if (ready) return Promise.resolve(ready);
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      const timer =
        timeoutMs > 0
          ? setTimeout(
              () =>
                this.fail(
                  new TpGroupError(`no frame from ${this.peer} within ${timeoutMs} ms (the rank is stuck)`),
                ),
              timeoutMs,
            )
          : undefined;
      this.waiter = { resolve, reject, timer };
    });
  }

  /** Reads one frame and checks its type (protocol errors name both). */
  async expect(type: number, timeoutMs = this.timeoutMs): Promise<Buffer> {
    const f = await this.read(timeoutMs);
    if (f.type !== type)
      throw new TpGroupError(`expected frame type ${type} from ${this.peer}, got ${f.type}`);
    return f.payload;
  }

  close(): void {
    this.socket.destroy();
  }

  private onData(b: Buffer): void {
    this.chunks.push(b);
    this.buffered += b.length;
    while (this.buffered >= HEADER) {
      const head = this.peek(HEADER);
      const length = head.readUInt32LE(0);
      if (this.buffered < HEADER + length) break;
      const all = this.take(HEADER + length);
      this.deliver({ type: all.readUInt8(4), payload: all.subarray(HEADER) });
    }
  }

  private deliver(f: Frame): void {
    const w = this.waiter;
    if (w) {
      this.waiter = null;
      clearTimeout(w.timer);
      w.resolve(f);
    } else this.frames.push(f);
  }

  private fail(err: Error): void {
    if (this.failure) return;
    this.failure = err;
    const w = this.waiter;
    this.waiter = null;
    if (w) {
      clearTimeout(w.timer);
      w.reject(err);
    }
    this.socket.destroy();
  }

  /** The first n buffered bytes, joined only as far as needed (a long stream stays linear, not quadratic). */
  private peek(n: number): Buffer {
    if (this.chunks[0]!.length < n) this.joinFront(n);
    return this.chunks[0]!.subarray(0, n);
  }

  private take(n: number): Buffer {
    if (this.chunks[0]!.length < n) this.joinFront(n);
    const first = this.chunks[0]!;
    if (first.length === n) this.chunks.shift();
    else this.chunks[0] = first.subarray(n);
    this.buffered -= n;
    return first.subarray(0, n);
  }

  /** Merges leading chunks until the first holds at least n bytes. */
  private joinFront(n: number): void {
    let count = 0;
    let bytes = 0;
    while (bytes < n) bytes += this.chunks[count++]!.length;
    this.chunks.splice(0, count, Buffer.concat(this.chunks.slice(0, count), bytes));
  }
}
