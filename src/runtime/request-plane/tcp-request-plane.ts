/**
 * `RequestPlane` over TCP: `serve` starts a RequestPlaneServer on a free port, `call` goes through one
 * pooled RequestPlaneClient. The wrapper the frontend and worker use when they run as separate processes.
 * With `unixSocket`, servers also listen on a Unix-domain socket (`localAddress`) for callers on this host:
 * on loopback TCP every write also runs the receiver's TCP input path in the sender's syscall, which a
 * Unix socket skips (bench/README.md, bench:frontend round 2, has what it measured to on a 2-core box).
 */
import { randomBytes } from 'node:crypto';
import { readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getLogger } from '../../util/logger.ts';
import { isProcessAlive } from '../../util/process-alive.ts';
import { UNIX_ADDRESS_PREFIX } from './client-connection.ts';
import { RequestPlaneClient, type RequestPlaneClientOptions } from './client.ts';
import type { CallOptions, EndpointHandler, RequestPlane, ServeHandle } from './request-plane.ts';
import { RequestPlaneServer } from './server.ts';

export interface TcpRequestPlaneOptions extends RequestPlaneClientOptions {
  /** Interface servers listen on (default 127.0.0.1). */
  host?: string;
  /** Host servers publish as their address (default: `host`; required when `host` is 0.0.0.0). */
  advertiseHost?: string;
  /** Port servers listen on (default 0 = a free one). */
  port?: number;
  /**
   * Servers also listen on a Unix-domain socket: `true` = a fresh file in the OS temp folder, a string = that
   * path. Default off (the worker turns it on: `dhw worker --request-plane-unix on`).
   */
  unixSocket?: boolean | string;
}

/** Longest Unix socket path Linux accepts (sun_path is 108 bytes with its NUL). */
const MAX_UNIX_PATH_BYTES = 107;

/** Socket files this module names in the temp folder: dhw-rp-PID-RANDOM.sock. */
const SOCKET_FILE = /^dhw-rp-(\d+)-[0-9a-f]{8}\.sock$/;

/**
 * Remove socket files left in the temp folder by workers that were killed (a graceful stop removes its own):
 * those whose pid no longer runs. Once per process, before the first socket is made.
 */
let swept = false;
function sweepStaleSockets(dir: string): void {
  if (swept) return;
  swept = true;
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  for (const name of names) {
    const pid = SOCKET_FILE.exec(name)?.[1];
    if (pid !== undefined && !isProcessAlive(Number(pid))) rmSync(join(dir, name), { force: true });
  }
}

/** The socket path to listen on, or undefined (off, or the temp folder's path is too long for one). */
function unixSocketPath(option: boolean | string | undefined): string | undefined {
  if (option === undefined || option === false) return undefined;
  if (option === true) sweepStaleSockets(tmpdir());
  const path =
    option === true ? join(tmpdir(), `dhw-rp-${process.pid}-${randomBytes(4).toString('hex')}.sock`) : option;
  if (Buffer.byteLength(path) <= MAX_UNIX_PATH_BYTES) return path;
  getLogger('request-plane').warn(
    'request plane: no Unix socket (its path is longer than 107 bytes); same-host callers use TCP. ' +
      'Set TMPDIR to a shorter folder to get one.',
    { path },
  );
  return undefined;
}

export class TcpRequestPlane implements RequestPlane {
  readonly client: RequestPlaneClient;

  constructor(private readonly options: TcpRequestPlaneOptions = {}) {
    this.client = new RequestPlaneClient(options);
  }

  async serve(endpoints: Record<string, EndpointHandler>): Promise<ServeHandle> {
    const { host, advertiseHost, port, maxFrameBytes, clusterSecret } = this.options;
    const unixPath = unixSocketPath(this.options.unixSocket);
    const server = new RequestPlaneServer({
      host,
      advertiseHost,
      port,
      maxFrameBytes,
      clusterSecret,
      unixPath,
    });
    for (const [name, handler] of Object.entries(endpoints)) server.register(name, handler);
    await server.start();
    const local = server.unixPath;
    return {
      address: server.address,
      ...(local === undefined ? {} : { localAddress: `${UNIX_ADDRESS_PREFIX}${local}` }),
      get activeStreams() {
        return server.activeStreams;
      },
      stop: (options) => server.stop(options),
    };
  }

  call(address: string, endpoint: string, payload: unknown, options?: CallOptions): AsyncIterable<unknown> {
    return this.client.call(address, endpoint, payload, options);
  }

  close(): Promise<void> {
    return this.client.close();
  }
}
