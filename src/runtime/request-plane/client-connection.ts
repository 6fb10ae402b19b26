/**
 * One client connection to a worker, carrying many concurrent streams: each REQUEST gets a fresh stream
 * id, and incoming DATA/FINAL frames are routed to that stream's StreamReceiver. Like an HTTP/2 client
 * connection. If the socket closes, every stream still open fails with StreamDisconnectedError — the
 * signal for request migration — after its already-received items have been delivered.
 *
 * An idle connection is unref'd, so a pooled connection with no streams never keeps a process alive.
 */
import { connect, type Socket } from 'node:net';
import {
  FrameType,
  frameTypeName,
  isFinalFramePayload,
  MAX_STREAM_ID,
  type RequestFramePayload,
} from '../../protocols/request-plane.ts';
import { type ClusterSecret, looksLikeChallenge, proveClusterSecret } from '../../util/cluster-secret.ts';
import { getLogger } from '../../util/logger.ts';
import {
  ConnectError,
  FrameError,
  RemoteError,
  RequestTimeoutError,
  StreamDisconnectedError,
} from './errors.ts';
import { encodeFrame, FrameDecoder, parsePayload, type RawFrame } from './frame-codec.ts';
import type { CallOptions } from './request-plane.ts';
import { StreamReceiver } from './stream-receiver.ts';
import { WriteBatcher } from './write-batch.ts';

export interface ClientConnectionOptions {
  maxFrameBytes: number;
  connectTimeoutMs: number;
  /** Flow-control window per stream, in items. */
  window: number;
  /** Prove this secret to the worker (and check its proof) before the first frame; see util/cluster-secret.ts. */
  clusterSecret?: ClusterSecret;
}

/** Where node:net dials: a TCP host and port, or a Unix-domain socket path. */
export type DialTarget = { host: string; port: number } | { path: string };

/** Prefix of a request-plane address that names a Unix-domain socket: "unix:/tmp/dhw-rp-1.sock". */
export const UNIX_ADDRESS_PREFIX = 'unix:';

/** "host:port", "[v6]:port" or "unix:/absolute/path" → a dial target; a ConnectError for anything else. */
export function parseAddress(address: string): DialTarget {
  if (address.startsWith(UNIX_ADDRESS_PREFIX)) {
    const path = address.slice(UNIX_ADDRESS_PREFIX.length);
    if (!path.startsWith('/')) throw new ConnectError(address, 'not a "unix:/absolute/path" address');
    return { path };
  }
  const match = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(address);
  const port = match ? Number(match[3]) : Number.NaN;
  if (!match || port < 1 || port > 65535) {
    throw new ConnectError(address, 'not a "host:port" address');
  }
  return { host: match[1] ?? match[2], port };
}

export class ClientConnection {
  private readonly decoder: FrameDecoder;
  private readonly streams = new Map<number, StreamReceiver>();
  private readonly pings = new Map<
    number,
    { resolve: (receivedAt: number) => void; reject: (e: unknown) => void }
  >();
  private nextStreamId = 1;
  private nextPingId = 1;
  private closeCause: unknown = null;
  closed = false;
  private sawData = false;
  private readonly log = getLogger('request-plane');
  private readonly out: WriteBatcher;

  /** Dial `address`; rejects with ConnectError. */
  static connect(
    address: string,
    options: ClientConnectionOptions,
    onClose: () => void,
  ): Promise<ClientConnection> {
    const target = parseAddress(address);
    return new Promise((resolve, reject) => {
      const socket = connect(target);
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new ConnectError(address, `no connection within ${options.connectTimeoutMs} ms`));
      }, options.connectTimeoutMs);
      socket.once('error', (cause) => {
        clearTimeout(timer);
        reject(new ConnectError(address, cause.message, { cause }));
      });
      socket.once('connect', () => {
        clearTimeout(timer);
        if (!options.clusterSecret) {
          socket.removeAllListeners('error');
          resolve(new ClientConnection(socket, address, options, onClose));
          return;
        }
        proveClusterSecret(socket, options.clusterSecret, options.connectTimeoutMs).then(
          () => {
            socket.removeAllListeners('error');
            const connection = new ClientConnection(socket, address, options, onClose);
            socket.resume();
            resolve(connection);
          },
          (cause: Error) => {
            socket.destroy();
            reject(
              new ConnectError(
                address,
                `cluster-secret handshake failed (${cause.message}); check that the worker and this process ` +
                  'were started with the same --cluster-secret-file',
                { cause },
              ),
            );
          },
        );
      });
    });
  }

  private constructor(
    private readonly socket: Socket,
    readonly address: string,
    private readonly options: ClientConnectionOptions,
    private readonly onClose: () => void,
  ) {
    this.decoder = new FrameDecoder(options.maxFrameBytes);
    socket.setNoDelay(true);
    this.out = new WriteBatcher(socket);
    socket.setKeepAlive(true, 10_000);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (error) => {
      this.closeCause ??= error;
    });
    socket.on('close', () => this.onSocketClose());
    this.updateRef();
  }

  get openStreams(): number {
    return this.streams.size;
  }

  /** Send a REQUEST; the returned receiver yields its responses. */
  openStream(endpoint: string, payload: unknown, requestId: string, call: CallOptions): StreamReceiver {
    if (this.closed) {
      throw new StreamDisconnectedError(
        { address: this.address, endpoint, requestId },
        0,
        'connection closed',
      );
    }
    const id = this.allocateStreamId();
    const request: RequestFramePayload = { endpoint, requestId, window: this.options.window, payload };
    if (call.batch) request.batch = true;
    const frame = encodeFrame(FrameType.Request, id, request, this.options.maxFrameBytes);
    const receiver = new StreamReceiver({
      origin: { address: this.address, endpoint, requestId },
      window: this.options.window,
      timeoutMs: call.timeoutMs,
      firstResponseTimeoutMs: call.firstResponseTimeoutMs,
      signal: call.signal,
      grantCredit: (credit) => this.send(encodeFrame(FrameType.Window, id, { credit })),
      cancelRemote: () => {
        this.streams.delete(id);
        this.send(encodeFrame(FrameType.Cancel, id));
        this.updateRef();
      },
    });
    this.streams.set(id, receiver);
    this.updateRef();
    this.send(frame);
    return receiver;
  }

  /** Round trip of a PING, in ms. */
  ping(timeoutMs: number): Promise<number> {
    const id = this.nextPingId++;
    const sentAt = performance.now();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pings.delete(id);
        this.updateRef();
        const origin = { address: this.address, endpoint: '(ping)', requestId: `ping-${id}` };
        reject(new RequestTimeoutError(origin, timeoutMs, 'first'));
      }, timeoutMs);
      const settle = () => {
        clearTimeout(timer);
        this.pings.delete(id);
        this.updateRef();
      };
      this.pings.set(id, {
        resolve: (receivedAt) => {
          settle();
          resolve(receivedAt - sentAt);
        },
        reject: (error) => {
          settle();
          reject(error);
        },
      });
      this.updateRef();
      this.send(encodeFrame(FrameType.Ping, 0, { id }));
    });
  }

  /** Close now; open streams fail with StreamDisconnectedError carrying `reason`. */
  destroy(reason: unknown): void {
    this.closeCause ??= reason;
    this.socket.destroy();
  }

  private send(frame: Buffer): void {
    if (!this.closed) this.out.write(frame);
  }

  private onData(chunk: Buffer): void {
    if (!this.sawData) {
      this.sawData = true;
      if (!this.options.clusterSecret && looksLikeChallenge(chunk)) {
        this.log.error(
          'the worker requires a cluster secret; start this process with --cluster-secret-file',
          {
            address: this.address,
          },
        );
        this.destroy(new Error('the worker requires a cluster secret (--cluster-secret-file)'));
        return;
      }
    }
    try {
      for (const frame of this.decoder.push(chunk)) this.dispatch(frame);
    } catch (error) {
      if (!(error instanceof FrameError)) throw error;
      this.log.error('closing connection to worker: protocol error', {
        address: this.address,
        error: error.message,
      });
      this.destroy(error);
    }
  }

  private dispatch(frame: RawFrame): void {
    switch (frame.type) {
      case FrameType.Data: {
        const item = parsePayload(frame);
        this.streams.get(frame.streamId)?.push(item);
        return;
      }
      case FrameType.DataBatch: {
        const items = parsePayload(frame);
        if (!Array.isArray(items) || items.length === 0)
          throw new FrameError(
            `Malformed DATA_BATCH frame on stream ${frame.streamId}: not a non-empty array`,
          );
        const receiver = this.streams.get(frame.streamId);
        if (receiver) for (const item of items) receiver.push(item);
        return;
      }
      case FrameType.Final:
        this.finishStream(frame);
        return;
      case FrameType.Pong: {
        const body = parsePayload(frame) as { id?: unknown };
        const ping = typeof body?.id === 'number' ? this.pings.get(body.id) : undefined;
        ping?.resolve(performance.now());
        return;
      }
      default:
        throw new FrameError(`Unexpected ${frameTypeName(frame.type)} frame from a worker`);
    }
  }

  private finishStream(frame: RawFrame): void {
    const body = parsePayload(frame);
    if (!isFinalFramePayload(body)) throw new FrameError(`Malformed FINAL frame on stream ${frame.streamId}`);
    const receiver = this.streams.get(frame.streamId);
    if (!receiver) return; // cancelled locally; the worker's FINAL crossed our CANCEL
    this.streams.delete(frame.streamId);
    this.updateRef();
    if (body.error) {
      const { code, message, param } = body.error;
      receiver.fail(
        new RemoteError(receiver.origin, code, message, {
          param: typeof param === 'string' ? param : undefined,
        }),
      );
    } else receiver.finish();
  }

  private onSocketClose(): void {
    this.closed = true;
    const cause = this.closeCause;
    const detail =
      cause instanceof Error ? `connection lost (${cause.message})` : 'connection closed by the worker';
    for (const receiver of this.streams.values()) {
      receiver.fail(new StreamDisconnectedError(receiver.origin, receiver.itemsReceived, detail, { cause }));
    }
    this.streams.clear();
    for (const ping of [...this.pings.values()])
      ping.reject(new ConnectError(this.address, detail, { cause }));
    this.onClose();
  }

  private allocateStreamId(): number {
    while (this.streams.has(this.nextStreamId) || this.nextStreamId === 0) {
      this.nextStreamId = this.nextStreamId >= MAX_STREAM_ID ? 1 : this.nextStreamId + 1;
    }
    const id = this.nextStreamId;
    this.nextStreamId = id >= MAX_STREAM_ID ? 1 : id + 1;
    return id;
  }

  /** Keep the process alive only while streams or pings are in flight. */
  private updateRef(): void {
    if (this.streams.size > 0 || this.pings.size > 0) this.socket.ref();
    else this.socket.unref();
  }
}
