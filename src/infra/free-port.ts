/**
 * `freePort()`: an unused loopback TCP port for a server we are about to start, like `bind(0)` +
 * `getsockname()`, with one difference: on Linux it is chosen BELOW the kernel's ephemeral range
 * (`/proc/sys/net/ipv4/ip_local_port_range`, 32768-60999 by default). The port is released before it is
 * returned, and every outgoing connection on the host takes its local port from the ephemeral range: a
 * port from that range can be taken by some client's connect() before our server binds it (seen on a busy
 * CI box: "port ... is already in use"). Below the range only another explicit bind can take it. Ports
 * handed out by this process are never handed out again, so two servers started back to back cannot
 * collide with each other. Callers that start a server on it may still retry with a fresh port.
 */
import { readFileSync } from 'node:fs';
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

/** Lowest port of the kernel's ephemeral range, or null where it cannot be read (not Linux); read once. */
let rangeStartRead: number | null | undefined;
function ephemeralRangeStart(): number | null {
  rangeStartRead ??= readEphemeralRangeStart();
  return rangeStartRead;
}

function readEphemeralRangeStart(): number | null {
  try {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    return Number.isInteger(low) ? low : null;
  } catch {
    return null;
  }
}

/** Binds 127.0.0.1:`port` and releases it: true if nothing held it. */
function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.unref();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

const BELOW_RANGE_FROM = 10_000; // above the well-known and most registered service ports

export async function freePort(): Promise<number> {
  const rangeStart = ephemeralRangeStart();
  if (rangeStart !== null && rangeStart - BELOW_RANGE_FROM >= 1000) {
    for (let attempt = 0; attempt < 50; attempt++) {
      const port = BELOW_RANGE_FROM + Math.floor(Math.random() * (rangeStart - BELOW_RANGE_FROM));
      if (recentlyGiven.has(port) || !(await canBind(port))) continue;
      recentlyGiven.add(port);
      return port;
    }
  }
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
