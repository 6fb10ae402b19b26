/**
 * `RequestPlane` inside one process (embedded mode, tests): the same StreamPump and StreamReceiver as the
 * TCP implementation, wired together directly instead of through a socket — like a loopback interface
 * that skips the wire but keeps the protocol. So flow control, cancellation, timeouts, error classes and
 * graceful stop behave the same; only the bytes are missing. Payloads and items still get what a JSON round
 * trip would do to them (`wire-clone.ts`), so whatever works here also works over TCP (no shared mutable objects, no bigint).
 */
import { randomUUID } from 'node:crypto';
import { RemoteErrorCode, type RemoteErrorInfo } from '../../protocols/request-plane.ts';
import { DEFAULT_STREAM_WINDOW } from './client.ts';
import { ConnectError, RemoteError, StreamDisconnectedError } from './errors.ts';
import type {
  CallOptions,
  EndpointHandler,
  RequestPlane,
  ServeHandle,
  StopOptions,
} from './request-plane.ts';
import { StreamPump } from './stream-pump.ts';
import { StreamReceiver } from './stream-receiver.ts';
import { wireClone } from './wire-clone.ts';

interface MemoryStream {
  pump: StreamPump;
  receiver: StreamReceiver;
}

class MemoryServer implements ServeHandle {
  private readonly streams = new Set<MemoryStream>();
  private draining = false;
  stopped = false;
  private onStreamEnd: (() => void) | null = null;

  constructor(
    readonly address: string,
    private readonly endpoints: ReadonlyMap<string, EndpointHandler>,
    private readonly window: number,
  ) {}

  get activeStreams(): number {
    return this.streams.size;
  }

  /** The in-memory twin of ServerConnection.openStream + ClientConnection.openStream. */
  open(endpoint: string, payload: unknown, requestId: string, call: CallOptions): StreamReceiver {
    const origin = { address: this.address, endpoint, requestId };
    let stream: MemoryStream | null = null;
    const receiver = new StreamReceiver({
      origin,
      window: this.window,
      timeoutMs: call.timeoutMs,
      firstResponseTimeoutMs: call.firstResponseTimeoutMs,
      signal: call.signal,
      grantCredit: (n) => stream?.pump.grant(n),
      cancelRemote: () => {
        if (stream) this.streams.delete(stream);
        stream?.pump.cancel('cancelled by the client');
      },
    });
    const refuse = (error: RemoteErrorInfo) => {
      receiver.fail(new RemoteError(origin, error.code, error.message, { param: error.param }));
      return receiver;
    };
    if (this.draining) {
      return refuse({ code: RemoteErrorCode.Unavailable, message: 'the worker is shutting down' });
    }
    const handler = this.endpoints.get(endpoint);
    if (!handler) {
      const known = [...this.endpoints.keys()].join(', ') || '(none)';
      return refuse({
        code: RemoteErrorCode.UnknownEndpoint,
        message: `no endpoint "${endpoint}"; it serves: ${known}`,
      });
    }
    const pump = new StreamPump({
      handler,
      payload: wireClone(payload),
      endpoint,
      requestId,
      window: this.window,
      sink: {
        data: (item) => {
          receiver.push(wireClone(item));
          return undefined;
        },
        final: (error) => {
          if (stream) this.streams.delete(stream);
          if (error)
            receiver.fail(new RemoteError(origin, error.code, error.message, { param: error.param }));
          else receiver.finish();
        },
      },
    });
    const started: MemoryStream = { pump, receiver };
    stream = started;
    this.streams.add(started);
    void pump.run().then(() => {
      this.streams.delete(started);
      this.onStreamEnd?.();
    });
    return receiver;
  }

  async stop({ drainMs = 5000 }: StopOptions = {}): Promise<void> {
    this.draining = true;
    if (this.streams.size > 0 && drainMs > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, drainMs);
        this.onStreamEnd = () => {
          if (this.streams.size > 0) return;
          clearTimeout(timer);
          resolve();
        };
      });
      this.onStreamEnd = null;
    }
    for (const { pump, receiver } of this.streams) {
      pump.cancel('server stopped');
      receiver.fail(
        new StreamDisconnectedError(
          receiver.origin,
          receiver.itemsReceived,
          'the in-memory worker was stopped',
        ),
      );
    }
    this.streams.clear();
    this.stopped = true;
  }
}

export interface InMemoryRequestPlaneOptions {
  /** Items a stream may have in flight before its consumer reads them (default 64). */
  window?: number;
}

export class InMemoryRequestPlane implements RequestPlane {
  private readonly servers = new Map<string, MemoryServer>();
  private nextServerId = 1;

  constructor(private readonly options: InMemoryRequestPlaneOptions = {}) {}

  async serve(endpoints: Record<string, EndpointHandler>): Promise<ServeHandle> {
    const address = `memory:${this.nextServerId++}`;
    const server = new MemoryServer(
      address,
      new Map(Object.entries(endpoints)),
      this.options.window ?? DEFAULT_STREAM_WINDOW,
    );
    this.servers.set(address, server);
    return server;
  }

  async *call(
    address: string,
    endpoint: string,
    payload: unknown,
    options: CallOptions = {},
  ): AsyncGenerator<unknown> {
    options.signal?.throwIfAborted();
    const server = this.servers.get(address);
    if (!server || server.stopped) {
      throw new ConnectError(address, 'no in-memory worker serves this address (never started, or stopped)');
    }
    yield* server.open(endpoint, payload, options.requestId ?? randomUUID(), options);
  }

  async close(): Promise<void> {
    // Nothing to release: there are no connections, and servers stop through their handles.
  }
}
