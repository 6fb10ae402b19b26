/**
 * A TCP relay that adds a fixed one-way delay in each direction: the user-space stand-in for `tc qdisc ...
 * netem delay`, which this kernel does not have. A client dials the proxy instead of the server; every chunk
 * read from one side is written to the other `delayMs` later, in order, so a request/response round trip costs
 * 2 × delayMs more and a bulk stream's first byte arrives delayMs later (its rate is still the link's, set
 * by tc in the kernel).
 *
 * Where latency applies: only on connections made through a proxy. `dhw cluster up --link RATE,LATENCY`
 * records LATENCY; run `dhw cluster run NODE -- dhw cluster delay-proxy --listen ADDR:PORT --to ADDR:PORT
 * --delay LATENCY` and point the client at the proxy (a worker's request plane, a transfer agent's listener).
 *
 * Unlike netem it delays chunks as the socket returns them, not packets, and the delay queue holds up to
 * 8 MiB per direction before it stops reading (so a sender still feels back-pressure).
 */
import { createServer, type Server, type Socket, connect } from 'node:net';

export interface DelayProxyOptions {
  listenHost: string;
  /** 0 = any free port. */
  listenPort: number;
  targetHost: string;
  targetPort: number;
  /** Added to every chunk in each direction. */
  delayMs: number;
}

export interface DelayProxy {
  /** "host:port" clients dial. */
  readonly address: string;
  readonly port: number;
  close(): Promise<void>;
}

const HIGH_WATER_BYTES = 8 * 1024 * 1024;
const LOW_WATER_BYTES = 1024 * 1024;

/** Forward `from` → `to`, holding each chunk `delayMs`; order kept, back-pressure through pause/resume. */
function delayedPipe(from: Socket, to: Socket, delayMs: number): void {
  const queue: { due: number; chunk: Buffer }[] = [];
  let queuedBytes = 0;
  let timer: NodeJS.Timeout | undefined;
  let ended = false;
  let blocked = false;

  const flush = () => {
    timer = undefined;
    while (!blocked && queue.length > 0 && queue[0]!.due <= Date.now()) {
      const { chunk } = queue.shift()!;
      queuedBytes -= chunk.length;
      if (!to.write(chunk)) blocked = true;
    }
    if (queuedBytes < LOW_WATER_BYTES && from.isPaused()) from.resume();
    if (queue.length === 0 && ended) to.end();
    else if (!blocked && queue.length > 0) timer = setTimeout(flush, Math.max(0, queue[0]!.due - Date.now()));
  };
  to.on('drain', () => {
    blocked = false;
    if (!timer) flush();
  });
  from.on('data', (chunk: Buffer) => {
    queue.push({ due: Date.now() + delayMs, chunk });
    queuedBytes += chunk.length;
    if (queuedBytes > HIGH_WATER_BYTES) from.pause();
    if (!timer && !blocked) timer = setTimeout(flush, delayMs);
  });
  from.on('end', () => {
    ended = true;
    if (!timer && !blocked) flush();
  });
}

function relay(client: Socket, options: DelayProxyOptions): void {
  const server = connect({ host: options.targetHost, port: options.targetPort });
  client.setNoDelay(true);
  server.setNoDelay(true);
  const destroyBoth = () => {
    client.destroy();
    server.destroy();
  };
  client.on('error', destroyBoth);
  server.on('error', destroyBoth);
  client.on('close', () => server.destroy());
  server.on('close', () => client.destroy());
  delayedPipe(client, server, options.delayMs);
  delayedPipe(server, client, options.delayMs);
}

/** Listen on listenHost:listenPort and relay each connection to the target with the delay added. */
export async function startDelayProxy(options: DelayProxyOptions): Promise<DelayProxy> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    relay(client, options);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.listenPort, options.listenHost, () => resolve());
  });
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : options.listenPort;
  return {
    address: `${options.listenHost}:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
