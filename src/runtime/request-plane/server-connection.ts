/**
 * One accepted client connection on a worker: cuts the byte stream into frames, starts a StreamPump per
 * REQUEST, routes WINDOW/CANCEL to the right pump, answers PING. Like one HTTP/2 connection inside a
 * server: streams are independent, but they share one socket and its send buffer, so a full send buffer
 * (socket.write() returned false) pauses every pump until 'drain'.
 *
 * A protocol violation (malformed or oversized frame, a frame type only servers send, a reused stream id)
 * closes this connection and cancels its streams; other connections are unaffected.
 */
import type { Socket } from 'node:net';
import {
  FrameType,
  frameTypeName,
  isRequestFramePayload,
  isWindowFramePayload,
  RemoteErrorCode,
  type RemoteErrorInfo,
} from '../../protocols/request-plane.ts';
import type { Logger } from '../../util/logger.ts';
import { FrameError, FrameTooLargeError } from './errors.ts';
import { encodeFrame, encodeRawFrame, FrameDecoder, parsePayload, type RawFrame } from './frame-codec.ts';
import type { EndpointHandler } from './request-plane.ts';
import { StreamPump } from './stream-pump.ts';
import { WriteBatcher } from './write-batch.ts';

export interface ServerConnectionOptions {
  endpoints: ReadonlyMap<string, EndpointHandler>;
  maxFrameBytes: number;
  /** True once the server is stopping: new REQUESTs are refused with 'unavailable'. */
  isDraining(): boolean;
  /** A stream finished (normally, with an error, or cancelled). */
  onStreamEnd(): void;
  log: Logger;
}

export class ServerConnection {
  private readonly decoder: FrameDecoder;
  /** Live streams by id; a cancelled stream leaves at once, even if its handler is slow to stop. */
  private readonly streams = new Map<number, StreamPump>();
  private drainWait: Promise<void> | null = null;
  private readonly out: WriteBatcher;
  readonly peer: string;
  private readonly log: Logger;

  constructor(
    private readonly socket: Socket,
    private readonly options: ServerConnectionOptions,
  ) {
    this.decoder = new FrameDecoder(options.maxFrameBytes);
    this.peer = `${socket.remoteAddress}:${socket.remotePort}`;
    this.log = options.log.child({ peer: this.peer });
    socket.setNoDelay(true);
    this.out = new WriteBatcher(socket);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (error) => this.log.debug('client connection error', { error }));
    socket.on('close', () => this.cancelAll('client connection closed'));
  }

  get activeStreams(): number {
    return this.streams.size;
  }

  /** Bytes written but still queued in user space (socket.writableLength): what backpressure bounds. */
  get queuedBytes(): number {
    return this.socket.writableLength;
  }

  /** Abort every stream's handler (the client disconnected, or the server stops). */
  cancelAll(reason: string): void {
    for (const pump of this.streams.values()) pump.cancel(reason);
    this.streams.clear();
  }

  /** Close after the client has read what was sent; a client that never closes its side is cut after 1 s. */
  end(): void {
    this.socket.end();
    setTimeout(() => this.socket.destroy(), 1000).unref();
  }

  /** Close now: unsent bytes are lost, the client sees its streams disconnect. */
  destroy(): void {
    this.cancelAll('server stopped');
    this.socket.destroy();
  }

  private onData(chunk: Buffer): void {
    try {
      for (const frame of this.decoder.push(chunk)) this.dispatch(frame);
    } catch (error) {
      if (!(error instanceof FrameError)) throw error;
      this.log.error('closing client connection: protocol error', { error: error.message });
      this.destroy();
    }
  }

  private dispatch(frame: RawFrame): void {
    switch (frame.type) {
      case FrameType.Request:
        this.openStream(frame);
        return;
      case FrameType.Window: {
        const body = parsePayload(frame);
        if (!isWindowFramePayload(body))
          throw new FrameError(`Malformed WINDOW frame on stream ${frame.streamId}`);
        this.streams.get(frame.streamId)?.grant(body.credit);
        return;
      }
      case FrameType.Cancel: {
        const pump = this.streams.get(frame.streamId);
        this.streams.delete(frame.streamId);
        pump?.cancel('cancelled by the client');
        return;
      }
      case FrameType.Ping:
        this.socket.write(
          encodeRawFrame(FrameType.Pong, frame.streamId, frame.payload, this.options.maxFrameBytes),
        );
        return;
      default:
        throw new FrameError(`Unexpected ${frameTypeName(frame.type)} frame from a client`);
    }
  }

  private openStream(frame: RawFrame): void {
    const id = frame.streamId;
    const body = parsePayload(frame);
    if (!isRequestFramePayload(body)) throw new FrameError(`Malformed REQUEST frame on stream ${id}`);
    if (id === 0 || this.streams.has(id)) throw new FrameError(`REQUEST reuses stream id ${id}`);
    const { endpoint, requestId } = body;
    if (this.options.isDraining()) {
      this.sendFinal(id, {
        code: RemoteErrorCode.Unavailable,
        message: 'the worker is shutting down and takes no new requests; retry on another worker',
      });
      return;
    }
    const handler = this.options.endpoints.get(endpoint);
    if (!handler) {
      const known = [...this.options.endpoints.keys()].join(', ') || '(none)';
      this.sendFinal(id, {
        code: RemoteErrorCode.UnknownEndpoint,
        message: `no endpoint "${endpoint}" on this worker; it serves: ${known}`,
      });
      return;
    }
    const pump = new StreamPump({
      handler,
      payload: body.payload,
      endpoint,
      requestId,
      window: body.window,
      batch: body.batch === true,
      sink: {
        data: (item) => this.sendData(id, item),
        dataBatch: (items) => this.sendDataBatch(id, items),
        final: (error) => this.sendFinal(id, error),
      },
    });
    this.streams.set(id, pump);
    if (this.log.isEnabled('debug')) this.log.debug('stream opened', { streamId: id, endpoint, requestId });
    void pump.run().then(() => {
      if (this.streams.get(id) === pump) this.streams.delete(id);
      this.options.onStreamEnd();
    });
  }

  private sendData(streamId: number, item: unknown): undefined | Promise<void> {
    if (this.socket.destroyed) return undefined;
    const body = nullForUndefined(item);
    const flushed = this.out.write(encodeFrame(FrameType.Data, streamId, body, this.options.maxFrameBytes));
    return flushed ? undefined : this.drained();
  }

  /** Several items in one DATA_BATCH frame; items too big to share a frame go one DATA frame each. */
  private sendDataBatch(streamId: number, items: unknown[]): undefined | Promise<void> {
    if (this.socket.destroyed) return undefined;
    let frame: Buffer;
    try {
      frame = encodeFrame(
        FrameType.DataBatch,
        streamId,
        items.map(nullForUndefined),
        this.options.maxFrameBytes,
      );
    } catch (error) {
      if (!(error instanceof FrameTooLargeError)) throw error;
      let drained: undefined | Promise<void>;
      for (const item of items) drained = this.sendData(streamId, item) ?? drained;
      return drained;
    }
    return this.out.write(frame) ? undefined : this.drained();
  }

  private sendFinal(streamId: number, error?: RemoteErrorInfo): void {
    if (this.socket.destroyed) return;
    let frame: Buffer;
    try {
      frame = encodeFrame(FrameType.Final, streamId, error ? { error } : {}, this.options.maxFrameBytes);
    } catch {
      // Only a huge error message can overflow a FINAL: keep the code, cut the message.
      const cut = {
        code: error?.code ?? RemoteErrorCode.HandlerError,
        message: error?.message.slice(0, 4096) ?? '',
      };
      frame = encodeFrame(FrameType.Final, streamId, { error: cut }, this.options.maxFrameBytes);
    }
    this.out.write(frame);
  }

  /** Resolves when the send buffer empties, or the socket closes (the pumps are cancelled then). */
  private drained(): Promise<void> {
    this.drainWait ??= new Promise<void>((resolve) => {
      const done = () => {
        this.socket.off('drain', done);
        this.socket.off('close', done);
        this.drainWait = null;
        resolve();
      };
      this.socket.on('drain', done);
      this.socket.on('close', done);
    });
    return this.drainWait;
  }
}

/** JSON has no undefined: such an item travels as null (an empty payload would be a malformed frame). */
function nullForUndefined(item: unknown): unknown {
  return item === undefined ? null : item;
}
