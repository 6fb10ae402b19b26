/**
 * The target's end of one data connection: read a request, ask the target (the agent) for the views it
 * covers, and either stream them out (READ: batched writev(2) straight from the registered memory, see
 * view-writer.ts) or fill them from the stream (WRITE). A refusal (unknown region, block out of range,
 * layout mismatch) is answered with an error frame naming the class; the connection stays usable.
 */
import type { Socket } from 'node:net';
import { ChunkReader } from './chunk-reader.ts';
import { PeerClosedError, TransferProtocolError, wireErrorName } from './errors.ts';
import type { TransferCounters, TransferTarget } from './transport.ts';
import {
  decodeRequest,
  encodeFrame,
  headerLength,
  type ResponseHeader,
  type TransferHeader,
  totalBytes,
} from './wire.ts';
import { writeFrameAndViews } from './view-writer.ts';

export class ServedConnection {
  private readonly reader: ChunkReader;

  constructor(
    private readonly socket: Socket,
    private readonly target: TransferTarget,
    private readonly counters: TransferCounters,
    peer: string,
  ) {
    this.reader = new ChunkReader(socket, peer);
    socket.on('error', () => {
      // Reported through 'close' → PeerClosedError in the read loop; nothing else to do here.
    });
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
        if (request.type === 'notif') this.target.notify(request.from, request.message);
        else await this.serveTransfer(request);
      }
    } catch (err) {
      // A peer that hangs up between requests is the normal end of a connection; anything else is a
      // protocol error: answer it if we still can, then drop the connection.
      if (!(err instanceof PeerClosedError))
        this.answer({ type: 'error', name: 'TransferProtocolError', message: (err as Error).message });
      this.socket.destroy();
    }
  }

  private async serveTransfer(request: TransferHeader): Promise<void> {
    let views: Uint8Array[] | null = null;
    let refusal: Error | null = null;
    try {
      views = await this.target.prepare(request);
      if (totalBytes(views) !== request.bytes)
        throw new TransferProtocolError(
          `request says ${request.bytes} bytes but the descriptor list covers ${totalBytes(views)} here`,
        );
    } catch (err) {
      refusal = err as Error;
    }
    if (request.type === 'write') {
      if (views && !refusal) {
        this.counters.userCopiedBytes += await this.reader.fill(views);
        this.counters.bytesReceived += request.bytes;
        if (request.notif !== undefined) this.target.notify(request.from, request.notif);
      } else await this.reader.discard(request.bytes);
    }
    if (refusal || !views) {
      this.answer({ type: 'error', name: wireErrorName(refusal), message: (refusal as Error).message });
      return;
    }
    if (request.type === 'write') return this.answer({ type: 'ok', bytes: request.bytes });
    if (this.socket.destroyed) return;
    this.counters.bytesSent += request.bytes;
    await writeFrameAndViews(this.socket, encodeFrame({ type: 'ok', bytes: request.bytes }), views);
  }

  private answer(response: ResponseHeader): void {
    if (!this.socket.destroyed) this.socket.write(encodeFrame(response));
  }
}
