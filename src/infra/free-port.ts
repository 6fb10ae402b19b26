/**
 * `freePort()`: ask the kernel for an unused loopback TCP port, like `bind(0)` + `getsockname()`.
 * The port is released before it is returned, so another process could take it first: callers that start a
 * server on it retry with a fresh port when the bind fails. Ports handed out recently by this process are
 * never handed out again, so two servers started back to back cannot collide with each other.
 */
import { type AddressInfo, connect, createServer } from 'node:net';

const recentlyGiven = new Set<number>();

function bindEphemeral(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const port = await bindEphemeral();
    if (!recentlyGiven.has(port)) {
      recentlyGiven.add(port);
      return port;
    }
  }
  return bindEphemeral();
}

/** True if something accepts TCP connections on 127.0.0.1:`port` (a server we would collide with). */
export function isPortListening(port: number, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    const done = (listening: boolean) => {
      socket.destroy();
      resolve(listening);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}
