/**
 * The worker's side of the request plane: a TCP server that serves named endpoints, each a handler that
 * yields a stream of items. Like a small gRPC server with server-streaming methods: `register` = add a
 * method, `start` = listen, `stop` = graceful shutdown (stop accepting, drain in-flight streams with a
 * deadline, then cut the rest — whose callers see a disconnect and migrate the requests elsewhere).
 */
import { rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { DEFAULT_MAX_FRAME_BYTES } from '../../protocols/request-plane.ts';
import { isLoopbackHost, resolveAdvertiseHost } from '../../util/advertise-host.ts';
import {
  type ClusterSecret,
  HANDSHAKE_TIMEOUT_MS,
  HandshakeListener,
  RESPONSE_BYTES,
  readExactly,
} from '../../util/cluster-secret.ts';
import { getLogger } from '../../util/logger.ts';
import { ListenError } from './errors.ts';
import type { EndpointHandler, StopOptions } from './request-plane.ts';
import { ServerConnection } from './server-connection.ts';

export interface RequestPlaneServerOptions {
  /** Interface to listen on (default 127.0.0.1; an address other nodes reach, or "0.0.0.0" with advertiseHost). */
  host?: string;
  /**
   * What `address` reports, i.e. what the worker publishes in discovery for callers to dial. Default: `host`.
   * Required when `host` is a wildcard (util/advertise-host.ts says why).
   */
  advertiseHost?: string;
  /** 0 (default) = any free port; `start()` says which. */
  port?: number;
  /** Largest frame accepted or sent, header included (default 16 MiB). */
  maxFrameBytes?: number;
  /**
   * When set, every connection must pass the cluster-secret handshake (util/cluster-secret.ts) before any
   * frame is read: a process without the secret cannot run an endpoint. Unset: anyone who can connect may.
   */
  clusterSecret?: ClusterSecret;
  /**
   * Also listen on this Unix-domain socket path (same frames, same handshake): callers on this host skip
   * the TCP/IP stack. A stale file at the path is replaced; the file is removed on stop.
   */
  unixPath?: string;
}

export interface ListenAddress {
  host: string;
  port: number;
}

const DEFAULT_DRAIN_MS = 5000;

export class RequestPlaneServer {
  private readonly endpoints = new Map<string, EndpointHandler>();
  private readonly connections = new Set<ServerConnection>();
  private readonly server: Server;
  private unixServer: Server | null = null;
  private readonly log = getLogger('request-plane');
  private listening: ListenAddress | null = null;
  private draining = false;
  /** Wake pending `stop()` calls when a stream ends, so they can check whether the drain is complete. */
  private readonly streamEndListeners = new Set<() => void>();

  constructor(private readonly options: RequestPlaneServerOptions = {}) {
    this.server = createServer((socket) => this.accept(socket));
  }

  /** Serve `endpoint` with `handler`. Endpoints may be added while running. */
  register(endpoint: string, handler: EndpointHandler): void {
    if (this.endpoints.has(endpoint)) {
      throw new Error(`request plane: endpoint "${endpoint}" is already registered on this server`);
    }
    this.endpoints.set(endpoint, handler);
  }

  /** Listen; resolves with the bound address (the real port when port 0 was asked for). */
  async start(): Promise<ListenAddress> {
    const host = this.options.host ?? '127.0.0.1';
    const port = this.options.port ?? 0;
    await new Promise<void>((resolve, reject) => {
      const onError = (cause: Error) =>
        reject(
          new ListenError(
            `Request plane cannot listen on ${host}:${port}: ${cause.message}. Pick a free port (or 0).`,
            {
              cause,
            },
          ),
        );
      this.server.once('error', onError);
      this.server.listen(port, host, () => {
        this.server.off('error', onError);
        resolve();
      });
    });
    const bound = this.server.address();
    if (bound === null || typeof bound === 'string')
      throw new ListenError(`unexpected listen address ${bound}`);
    this.listening = { host, port: bound.port };
    if (this.options.unixPath !== undefined) {
      try {
        await this.listenUnix(this.options.unixPath);
      } catch (error) {
        this.server.close();
        throw error;
      }
    }
    if (!this.options.clusterSecret && !isLoopbackHost(host)) {
      this.log.warn(
        'request plane listens beyond loopback without a cluster secret: any host that reaches this port can ' +
          'run its endpoints; start every member with --cluster-secret-file (see SECURITY.md)',
        { bound: `${host}:${bound.port}` },
      );
    }
    this.log.info('request plane listening', {
      bound: `${host}:${bound.port}`,
      advertised: this.options.advertiseHost ?? host,
      endpoints: [...this.endpoints.keys()],
      ...(this.unixServer ? { unix: this.options.unixPath } : {}),
    });
    return this.listening;
  }

  private async listenUnix(path: string): Promise<void> {
    rmSync(path, { force: true }); // a killed process's socket file would make listen fail with EADDRINUSE
    const server = createServer((socket) => this.accept(socket));
    await new Promise<void>((resolve, reject) => {
      server.once('error', (cause: Error) =>
        reject(
          new ListenError(
            `Request plane cannot listen on the Unix socket ${path}: ${cause.message}. Check that its folder ` +
              'exists and is writable, or turn the Unix socket off.',
            { cause },
          ),
        ),
      );
      server.listen(path, () => resolve());
    });
    this.unixServer = server;
  }

  /** The Unix socket path callers on this host may dial instead of `address`, when one is open. */
  get unixPath(): string | undefined {
    return this.unixServer ? this.options.unixPath : undefined;
  }

  /** "host:port", what callers dial (and what the worker registers in discovery): the advertised host. */
  get address(): string {
    if (!this.listening) throw new Error('request plane: address read before start()');
    const port = this.listening.port;
    const host = resolveAdvertiseHost(this.listening.host, this.options.advertiseHost, 'request plane');
    return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
  }

  /** Streams whose handler is running, over all connections. */
  get activeStreams(): number {
    let n = 0;
    for (const connection of this.connections) n += connection.activeStreams;
    return n;
  }

  /** Bytes queued for sending over all connections; stays near the socket high-water mark per connection. */
  get queuedBytes(): number {
    let n = 0;
    for (const connection of this.connections) n += connection.queuedBytes;
    return n;
  }

  get connectionCount(): number {
    return this.connections.size;
  }

  /**
   * Graceful stop: refuse new connections and requests, wait up to `drainMs` for in-flight streams, then
   * cancel what is left and close every connection.
   */
  async stop({ drainMs = DEFAULT_DRAIN_MS }: StopOptions = {}): Promise<void> {
    if (!this.draining)
      this.log.info('request plane stopping', { activeStreams: this.activeStreams, drainMs });
    this.draining = true;
    const closed = Promise.all(
      [this.server, this.unixServer].map(
        (server) => new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve())),
      ),
    );
    const drained = await this.waitForStreams(drainMs);
    for (const connection of this.connections) {
      if (drained) connection.end();
      else connection.destroy();
    }
    if (!drained)
      this.log.warn('request plane drain deadline passed; cancelled the remaining streams', { drainMs });
    await closed;
    if (this.unixServer && this.options.unixPath) rmSync(this.options.unixPath, { force: true });
  }

  private accept(socket: Socket): void {
    if (this.draining) {
      socket.destroy();
      return;
    }
    const secret = this.options.clusterSecret;
    if (!secret) {
      this.serveConnection(socket);
      return;
    }
    // Nothing is read as a frame until the peer proved it holds the secret.
    socket.on('error', () => {});
    const handshake = new HandshakeListener(secret);
    socket.write(handshake.challenge);
    readExactly(socket, RESPONSE_BYTES, HANDSHAKE_TIMEOUT_MS).then(
      (response) => {
        const proof = handshake.verify(response);
        if (!proof || this.draining) {
          if (!proof)
            this.log.warn('refused a connection: cluster-secret handshake failed', {
              peer: `${socket.remoteAddress}:${socket.remotePort}`,
            });
          socket.destroy();
          return;
        }
        socket.write(proof);
        this.serveConnection(socket);
        socket.resume();
      },
      (error: Error) => {
        this.log.warn('refused a connection: no cluster-secret handshake', {
          peer: `${socket.remoteAddress}:${socket.remotePort}`,
          error: error.message,
        });
        socket.destroy();
      },
    );
  }

  private serveConnection(socket: Socket): void {
    const connection = new ServerConnection(socket, {
      endpoints: this.endpoints,
      maxFrameBytes: this.options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES,
      isDraining: () => this.draining,
      onStreamEnd: () => this.notifyStreamEnd(),
      log: this.log,
    });
    this.connections.add(connection);
    socket.on('close', () => {
      this.connections.delete(connection);
      this.notifyStreamEnd();
    });
  }

  /** True when every stream ended within `ms`. */
  private async waitForStreams(ms: number): Promise<boolean> {
    if (this.activeStreams === 0) return true;
    if (ms <= 0) return false;
    return new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => finish(false), ms);
      const check = () => {
        if (this.activeStreams === 0) finish(true);
      };
      const finish = (drained: boolean) => {
        clearTimeout(timer);
        this.streamEndListeners.delete(check);
        resolve(drained);
      };
      this.streamEndListeners.add(check);
    });
  }

  private notifyStreamEnd(): void {
    for (const listener of [...this.streamEndListeners]) listener();
  }
}
