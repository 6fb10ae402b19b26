/**
 * The reader's end of one shm control connection: send a request frame, wait for the answer, then (READ)
 * preadv the bytes from the file the owner named straight into the destination KV blocks, several calls
 * in flight. WRITE streams the payload after the header, as the unix backend does. One transfer at a
 * time per connection (the transport pools more for concurrency).
 */
import { closeSync, openSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { ChunkReader } from './chunk-reader.ts';
import {
  errorFromWire,
  PeerClosedError,
  TransferError,
  TransferProtocolError,
  TransferTimeoutError,
} from './errors.ts';
import { readRuns, sequentialRuns } from './file-runs.ts';
import { mirrorReadRuns } from './shm-mirror.ts';
import type { TransferCounters } from './transport.ts';
import { writeFrameAndViews } from './view-writer.ts';
import {
  decodeResponse,
  encodeFrame,
  headerLength,
  type NotifHeader,
  type OkResponseHeader,
  type TransferHeader,
  totalBytes,
} from './wire.ts';

/** "shm:///dev/shm/dhw-kv-…" → the directory. */
export function shmDirectory(address: string): string {
  if (!address.startsWith('shm://') || address.length <= 'shm://'.length)
    throw new TransferError(`not a shm address: ${JSON.stringify(address)} (expected shm:///path/to/dir)`);
  return address.slice('shm://'.length);
}

export interface ShmClientSide {
  readonly counters: TransferCounters;
  readonly ioConcurrency: number;
}

export class ShmClient {
  private readonly reader: ChunkReader;
  private busy = false;
  private closed = false;
  private lastError: Error | null = null;

  private constructor(
    readonly address: string,
    private readonly socket: Socket,
    private readonly side: ShmClientSide,
  ) {
    this.reader = new ChunkReader(socket, address);
    socket.on('error', (err) => {
      this.lastError = err;
    });
    socket.on('close', () => {
      this.closed = true;
    });
  }

  static open(address: string, side: ShmClientSide, timeoutMs: number): Promise<ShmClient> {
    const socket = connect({ path: join(shmDirectory(address), 'ctl.sock') });
    const client = new ShmClient(address, socket, side);
    return new Promise<ShmClient>((resolve, reject) => {
      const timer = setTimeout(() => {
        client.destroy(new TransferTimeoutError(`connecting to ${address} took over ${timeoutMs} ms`));
      }, timeoutMs);
      socket.once('connect', () => {
        clearTimeout(timer);
        resolve(client);
      });
      socket.once('close', () => {
        clearTimeout(timer);
        if (client.lastError instanceof TransferTimeoutError) return reject(client.lastError);
        reject(
          new PeerClosedError(
            // The stream backends' wording: one message to search logs for, whichever backend was picked.
            `Cannot open a data connection to transfer agent at ${address}. Check that the peer is running ` +
              'on this host.',
            { cause: client.lastError },
          ),
        );
      });
    });
  }

  get usable(): boolean {
    return !this.closed && !this.socket.destroyed && !this.busy;
  }

  /** READ: fill `local` from the owner's file. WRITE: send `local`. Rejects on refusal, close, timeout. */
  async transfer(header: TransferHeader, local: Uint8Array[], timeoutMs: number): Promise<void> {
    const expected = totalBytes(local);
    const what = `${header.type} of ${expected} bytes with ${this.address}`;
    this.busy = true;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const err = new TransferTimeoutError(
          `${what} did not finish within ${timeoutMs} ms. Check that the peer is alive and not overloaded; ` +
            'raise the transfer timeout for very large transfers.',
        );
        this.destroy(err);
        reject(err);
      }, timeoutMs);
    });
    try {
      await Promise.race([this.run(header, local, expected), timeout]);
    } catch (err) {
      if (err instanceof PeerClosedError && !(this.lastError instanceof TransferError))
        throw new PeerClosedError(
          `Control connection to transfer agent at ${this.address} closed mid-transfer (${what}). The peer ` +
            'died or closed; the destination blocks hold partial data.',
          { cause: err },
        );
      throw err;
    } finally {
      clearTimeout(timer);
      this.busy = false;
    }
  }

  sendNotif(notif: NotifHeader): void {
    this.socket.write(encodeFrame(notif));
  }

  destroy(err?: Error): void {
    if (err && !this.lastError) this.lastError = err;
    this.socket.destroy();
  }

  private async run(header: TransferHeader, local: Uint8Array[], expected: number): Promise<void> {
    const { notif, ...request } = header;
    if (header.type === 'write') {
      void writeFrameAndViews(this.socket, encodeFrame(header), local);
      this.side.counters.bytesSent += expected;
      await this.answer(expected);
      return;
    }
    this.socket.write(encodeFrame(request));
    const ok = await this.answer(expected);
    if (ok.file === undefined)
      throw new TransferProtocolError(`${this.address} answered a shm READ without naming a file`);
    await this.readFile(ok, header, local);
    this.side.counters.bytesReceived += expected;
    // After the bytes are ours: the owner may free (or restage) the blocks once it sees this.
    if (notif !== undefined) this.sendNotif({ type: 'notif', from: header.from, message: notif });
  }

  private async readFile(ok: OkResponseHeader, header: TransferHeader, local: Uint8Array[]): Promise<void> {
    // open/close on this thread: on tmpfs they take microseconds, a thread-pool round trip can take ms.
    let fd: number;
    try {
      fd = openSync(ok.file as string, 'r');
    } catch (cause) {
      throw new PeerClosedError(`the file ${ok.file} of ${this.address} is gone: the peer closed`, { cause });
    }
    try {
      const runs =
        ok.order === 'blocks'
          ? mirrorReadRuns(header.layout, header.layers, header.blockIds, local)
          : sequentialRuns(local);
      await readRuns(fd, runs, this.side.ioConcurrency);
    } finally {
      closeSync(fd);
    }
  }

  /** The next response frame: ok (checked against the expected size) or the peer's refusal, thrown. */
  private async answer(expected: number): Promise<OkResponseHeader> {
    const prefix = new Uint8Array(4);
    await this.reader.fill([prefix]);
    const bytes = new Uint8Array(headerLength(prefix));
    await this.reader.fill([bytes]);
    const answer = decodeResponse(bytes);
    if (answer.type === 'error') throw errorFromWire(answer.name, answer.message, this.address);
    if (answer.bytes !== expected)
      throw new TransferProtocolError(`${this.address} answered ${answer.bytes} bytes, expected ${expected}`);
    return answer;
  }
}
