/**
 * TCP and Unix-socket backends: one protocol (wire.ts) over node:net, differing only in the address.
 * Data connections are dedicated (never the request plane's), pooled per peer address and reused, so a
 * transfer costs one request frame on a warm connection: no handshake, no per-block round trip.
 */
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isLoopbackHost } from '../util/advertise-host.ts';
import {
  type ClusterSecret,
  HANDSHAKE_TIMEOUT_MS,
  HandshakeListener,
  RESPONSE_BYTES,
  readExactly,
} from '../util/cluster-secret.ts';
import { getLogger } from '../util/logger.ts';
import { DataConnection } from './data-connection.ts';
import { ServedConnection } from './served-connection.ts';
import { formatStreamAddress, parseStreamAddress, type StreamAddress } from './stream-address.ts';
import {
  type KvTransport,
  newCounters,
  type TransferTarget,
  type TransportKind,
  type TransportListener,
} from './transport.ts';
import type { NotifHeader, TransferHeader } from './wire.ts';

export interface StreamTransportOptions {
  /** tcp: interface to listen on (default 127.0.0.1; use 0.0.0.0 and `advertiseHost` across machines). */
  host?: string;
  /** tcp: the host name peers should dial (default: `host`). */
  advertiseHost?: string;
  /** tcp: port to listen on (default 0: any free port). */
  port?: number;
  /** unix: socket path (default: a fresh file in the OS temp directory). */
  path?: string;
  /**
   * Every data connection starts with the cluster-secret handshake (util/cluster-secret.ts) both ways: a
   * process without the secret can neither read nor write this worker's KV blocks. Default: none.
   */
  clusterSecret?: ClusterSecret;
}

export class StreamTransport implements KvTransport {
  readonly counters = newCounters();
  private readonly idle = new Map<string, DataConnection[]>();
  private readonly open = new Set<DataConnection>();

  constructor(
    readonly kind: Extract<TransportKind, 'tcp' | 'unix'>,
    private readonly options: StreamTransportOptions = {},
  ) {}

  async listen(target: TransferTarget): Promise<TransportListener> {
    const sockets = new Set<Socket>();
    const server = createServer((socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      if (this.kind === 'tcp') socket.setNoDelay(true);
      const serve = () =>
        new ServedConnection(socket, target, this.counters, `${socket.remoteAddress ?? 'unix peer'}`);
      const secret = this.options.clusterSecret;
      if (!secret) serve();
      else
        void admit(socket, secret).then((ok) => {
          if (!ok) return socket.destroy();
          serve();
          socket.resume();
        });
    });
    const address = await this.bind(server);
    const host = this.options.host ?? '127.0.0.1';
    if (this.kind === 'tcp' && !this.options.clusterSecret && !isLoopbackHost(host))
      getLogger('transfer').warn(
        'KV transfer listens beyond loopback without a cluster secret: any host that reaches this port can ' +
          'read and write the KV blocks; start every worker with --cluster-secret-file (see SECURITY.md)',
        { bound: host },
      );
    return {
      address: formatStreamAddress(address),
      close: async () => {
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        for (const socket of sockets) socket.destroy();
        await closed;
        if (address.kind === 'unix') rmSync(address.path, { force: true });
      },
    };
  }

  transfer(address: string, header: TransferHeader, local: Uint8Array[], timeoutMs: number): Promise<void> {
    // A warm connection starts the transfer inside the caller's turn: a WRITE's first writev(2) runs before
    // this returns, so a layer-wise push issued between two layers of a forward pass leaves while the next
    // layer computes (as far as the socket buffer takes it), not when the event loop next runs.
    const idle = this.takeIdle(address);
    if (idle !== undefined) return this.run(idle, header, local, timeoutMs);
    return this.acquire(address, timeoutMs).then((conn) => this.run(conn, header, local, timeoutMs));
  }

  private async run(
    conn: DataConnection,
    header: TransferHeader,
    local: Uint8Array[],
    timeoutMs: number,
  ): Promise<void> {
    try {
      await conn.transfer(header, local, timeoutMs);
    } finally {
      this.release(conn); // a refused transfer leaves the connection usable; a broken one is dropped
    }
  }

  async sendNotif(address: string, notif: NotifHeader, timeoutMs: number): Promise<void> {
    const conn = await this.acquire(address, timeoutMs);
    conn.sendNotif(notif);
    this.release(conn);
  }

  async close(): Promise<void> {
    for (const conn of this.open) conn.destroy();
    this.open.clear();
    this.idle.clear();
  }

  private async bind(server: Server): Promise<StreamAddress> {
    const listenOn: StreamAddress =
      this.kind === 'tcp'
        ? { kind: 'tcp', host: this.options.host ?? '127.0.0.1', port: this.options.port ?? 0 }
        : {
            kind: 'unix',
            path:
              this.options.path ??
              join(tmpdir(), `dhw-kv-${process.pid}-${randomBytes(4).toString('hex')}.sock`),
          };
    if (listenOn.kind === 'unix') rmSync(listenOn.path, { force: true }); // a stale file from a killed process
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      if (listenOn.kind === 'tcp') server.listen(listenOn.port, listenOn.host, () => resolve());
      else server.listen(listenOn.path, () => resolve());
    });
    if (listenOn.kind === 'unix') return listenOn;
    const bound = server.address();
    const port = typeof bound === 'object' && bound ? bound.port : listenOn.port;
    return { kind: 'tcp', host: this.options.advertiseHost ?? listenOn.host, port };
  }

  /** A pooled connection to `address` that can take a transfer now, if any. */
  private takeIdle(address: string): DataConnection | undefined {
    const pool = this.idle.get(address);
    while (pool?.length) {
      const conn = pool.pop() as DataConnection;
      if (conn.usable) return conn;
      this.open.delete(conn);
    }
    return undefined;
  }

  private async acquire(address: string, timeoutMs: number): Promise<DataConnection> {
    const idle = this.takeIdle(address);
    if (idle !== undefined) return idle;
    const target = parseStreamAddress(address);
    const conn = await DataConnection.open(
      address,
      target,
      this.counters,
      timeoutMs,
      this.options.clusterSecret,
    );
    this.open.add(conn);
    return conn;
  }

  /** Back to the pool if healthy; a connection that failed or timed out was destroyed and is dropped. */
  private release(conn: DataConnection): void {
    if (!conn.usable) {
      this.open.delete(conn);
      return;
    }
    const pool = this.idle.get(conn.address) ?? [];
    pool.push(conn);
    this.idle.set(conn.address, pool);
  }
}

/** Listener's half of the cluster-secret handshake: true when the peer proved the secret (proof sent). */
async function admit(socket: Socket, secret: ClusterSecret): Promise<boolean> {
  socket.on('error', () => {});
  const handshake = new HandshakeListener(secret);
  socket.write(handshake.challenge);
  try {
    const proof = handshake.verify(await readExactly(socket, RESPONSE_BYTES, HANDSHAKE_TIMEOUT_MS));
    if (!proof) return false;
    socket.write(proof);
    return true;
  } catch {
    return false;
  }
}
