/**
 * The owner's end of one shm control connection: requests arrive as frames (wire.ts). A READ whose blocks
 * are all staged is answered with the mirror's path at once (the owner's CPU touches no payload byte);
 * otherwise the request's views are staged into this connection's scratch file first. A WRITE's payload
 * follows its header on the socket, as on the unix backend. Refusals are error frames; the connection
 * stays usable.
 */
import { closeSync, ftruncateSync, openSync, rmSync } from 'node:fs';
import type { Socket } from 'node:net';
import { ChunkReader } from './chunk-reader.ts';
import { PeerClosedError, TransferProtocolError, wireErrorName } from './errors.ts';
import { sequentialRuns, writeRuns } from './file-runs.ts';
import type { TransferCounters, TransferTarget } from './transport.ts';
import {
  decodeRequest,
  encodeFrame,
  headerLength,
  type ResponseHeader,
  type TransferHeader,
  totalBytes,
} from './wire.ts';

/** What a served connection needs from its transport. */
export interface ShmStage {
  readonly counters: TransferCounters;
  readonly ioConcurrency: number;
  stagedFile(header: TransferHeader): string | null;
  whenStaged(header: TransferHeader): Promise<void>;
  unstage(region: string, blockIds: readonly number[]): void;
}

export class ShmServedConnection {
  private readonly reader: ChunkReader;
  private scratchFd: number | null = null;
  private scratchBytes = 0;
  /** The scratch file's I/O in flight: its fd is closed only after (a reused fd number must not be hit). */
  private io: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly socket: Socket,
    private readonly target: TransferTarget,
    private readonly shm: ShmStage,
    private readonly scratchPath: string,
  ) {
    this.reader = new ChunkReader(socket, 'shm peer');
    socket.on('error', () => {
      // Reported through 'close' → PeerClosedError in the read loop.
    });
    socket.on('close', () => this.dropScratch());
    void this.serve();
  }

  private async serve(): Promise<void> {
    try {
      for (;;) {
        const prefix = new Uint8Array(4);
        await this.reader.fill([prefix]);
        const header = new Uint8Array(headerLength(prefix));
        await this.reader.fill([header]);
        const request = decodeRequest(header);
        this.releaseScratch();
        if (request.type === 'notif') this.target.notify(request.from, request.message);
        else if (request.type === 'read') await this.serveRead(request);
        else await this.serveWrite(request);
      }
    } catch (err) {
      if (!(err instanceof PeerClosedError) && !this.socket.destroyed)
        this.answer({ type: 'error', name: 'TransferProtocolError', message: (err as Error).message });
      this.socket.destroy();
    }
  }

  private async serveRead(request: TransferHeader): Promise<void> {
    try {
      if (this.target.check) this.target.check(request);
      if (this.target.check) await this.shm.whenStaged(request);
      const mirror = this.target.check ? this.shm.stagedFile(request) : null;
      if (mirror !== null) {
        this.shm.counters.bytesSent += request.bytes;
        return this.answer({ type: 'ok', bytes: request.bytes, file: mirror, order: 'blocks' });
      }
      const views = await this.prepare(request);
      if (this.socket.destroyed) return;
      this.io = writeRuns(this.scratch(), sequentialRuns(views), this.shm.ioConcurrency);
      await this.io;
      this.scratchBytes = request.bytes;
      this.shm.counters.stagedOnReadBytes += request.bytes;
      this.shm.counters.bytesSent += request.bytes;
      this.answer({ type: 'ok', bytes: request.bytes, file: this.scratchPath, order: 'wire' });
    } catch (err) {
      this.refuse(err as Error);
    }
  }

  private async serveWrite(request: TransferHeader): Promise<void> {
    let views: Uint8Array[];
    try {
      views = await this.prepare(request);
    } catch (err) {
      await this.reader.discard(request.bytes);
      return this.refuse(err as Error);
    }
    this.shm.unstage(request.region, request.blockIds); // the mirror no longer matches these blocks
    this.shm.counters.userCopiedBytes += await this.reader.fill(views);
    this.shm.counters.bytesReceived += request.bytes;
    if (request.notif !== undefined) this.target.notify(request.from, request.notif);
    this.answer({ type: 'ok', bytes: request.bytes });
  }

  private async prepare(request: TransferHeader): Promise<Uint8Array[]> {
    const views = await this.target.prepare(request);
    if (totalBytes(views) !== request.bytes)
      throw new TransferProtocolError(
        `request says ${request.bytes} bytes but the descriptor list covers ${totalBytes(views)} here`,
      );
    return views;
  }

  /**
   * The reader has finished with the previous answer's scratch bytes once it sends anything else (one
   * transfer at a time per connection): give the pages back to tmpfs.
   */
  private releaseScratch(): void {
    if (this.scratchFd === null || this.scratchBytes === 0) return;
    ftruncateSync(this.scratchFd, 0);
    this.scratchBytes = 0;
  }

  private scratch(): number {
    this.scratchFd ??= openSync(this.scratchPath, 'w+');
    return this.scratchFd;
  }

  private dropScratch(): void {
    const drop = () => {
      if (this.scratchFd !== null) closeSync(this.scratchFd);
      this.scratchFd = null;
      rmSync(this.scratchPath, { force: true });
    };
    void this.io.then(drop, drop);
  }

  private refuse(err: Error): void {
    this.answer({ type: 'error', name: wireErrorName(err), message: err.message });
  }

  private answer(response: ResponseHeader): void {
    if (!this.socket.destroyed) this.socket.write(encodeFrame(response));
  }
}
