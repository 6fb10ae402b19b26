/**
 * What only the TCP implementation has: one pooled, multiplexed connection per worker, reconnects,
 * socket-level backpressure, and protection against bad bytes on the wire.
 */
import assert from 'node:assert/strict';
import { connect, createServer, type Socket } from 'node:net';
import { after, afterEach, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { FrameType } from '../../protocols/request-plane.ts';
import { configureLogging } from '../../util/logger.ts';
import { RequestPlaneClient } from './client.ts';
import {
  ConnectError,
  FrameError,
  FrameTooLargeError,
  ListenError,
  RemoteError,
  StreamDisconnectedError,
} from './errors.ts';
import { encodeFrame, FrameDecoder } from './frame-codec.ts';
import { collect, collectUntilError, waitFor } from './request-plane.conformance.ts';
import { RequestPlaneServer } from './server.ts';

const servers: RequestPlaneServer[] = [];
const clients: RequestPlaneClient[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) await server.stop({ drainMs: 0 });
  for (const client of clients.splice(0)) await client.close();
});

const logLines: string[] = [];
configureLogging({ write: (line) => logLines.push(line) });
after(() => configureLogging({ write: (line) => process.stderr.write(`${line}\n`) }));

async function startServer(
  endpoints: Record<string, (payload: unknown) => AsyncIterable<unknown>>,
  options: ConstructorParameters<typeof RequestPlaneServer>[0] = {},
) {
  const server = new RequestPlaneServer(options);
  for (const [name, handler] of Object.entries(endpoints)) server.register(name, handler);
  await server.start();
  servers.push(server);
  return server;
}

function newClient(options: ConstructorParameters<typeof RequestPlaneClient>[0] = {}) {
  const client = new RequestPlaneClient(options);
  clients.push(client);
  return client;
}

async function* count(payload: unknown) {
  for (let i = 0; i < (payload as number); i++) yield i;
}

function rawConnect(address: string): Promise<Socket> {
  const [host, port] = address.split(':');
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port: Number(port) }, () => resolve(socket));
    socket.once('error', reject);
  });
}

function closed(socket: Socket): Promise<void> {
  return new Promise((resolve) => socket.once('close', () => resolve()));
}

test('100 concurrent streams share one pooled connection', async () => {
  const server = await startServer({ count });
  const client = newClient();
  const results = await Promise.all(
    Array.from({ length: 100 }, () => collect(client.call(server.address, 'count', 20))),
  );
  for (const items of results)
    assert.deepEqual(
      items,
      Array.from({ length: 20 }, (_, i) => i),
    );
  assert.equal(client.connectionCount, 1);
  assert.equal(server.connectionCount, 1);
  assert.ok((await client.ping(server.address)) >= 0);
  assert.equal(server.connectionCount, 1);
});

test('the client reconnects on demand after the worker restarts on the same port', async () => {
  const first = await startServer({ count });
  const client = newClient();
  assert.deepEqual(await collect(client.call(first.address, 'count', 3)), [0, 1, 2]);
  const port = Number(first.address.split(':')[1]);
  await first.stop({ drainMs: 0 });
  const refused = await collectUntilError(client.call(first.address, 'count', 3));
  assert.ok(refused.error instanceof ConnectError);
  const second = await startServer({ count }, { port });
  assert.deepEqual(await collect(client.call(second.address, 'count', 3)), [0, 1, 2]);
  assert.equal(client.connectionCount, 1);
});

test('ConnectError says which worker address could not be reached; a busy port is a ListenError', async () => {
  const server = await startServer({ count });
  const { address } = server;
  await server.stop({ drainMs: 0 });
  const client = newClient();
  const { error } = await collectUntilError(client.call(address, 'count', 1));
  assert.ok(error instanceof ConnectError);
  assert.equal(error.address, address);
  assert.match(error.message, new RegExp(`Cannot reach worker at ${address}: .*ECONNREFUSED`));
  const bad = await collectUntilError(client.call('no-port-here', 'count', 1));
  assert.ok(bad.error instanceof ConnectError);

  const holder = await startServer({ count });
  const clash = new RequestPlaneServer({ port: Number(holder.address.split(':')[1]) });
  await assert.rejects(clash.start(), ListenError);
});

test('frame size limits: a too-big request fails at the caller, a too-big item fails the stream only', async () => {
  const server = await startServer(
    {
      count,
      huge: async function* () {
        yield 'small';
        yield 'x'.repeat(4096);
      },
    },
    { maxFrameBytes: 2048 },
  );
  const client = newClient({ maxFrameBytes: 2048 });
  const tooBig = await collectUntilError(client.call(server.address, 'count', 'y'.repeat(4096)));
  assert.ok(tooBig.error instanceof FrameTooLargeError);
  const { items, error } = await collectUntilError(client.call(server.address, 'huge', null));
  assert.deepEqual(items, ['small']);
  assert.ok(error instanceof RemoteError);
  assert.equal(error.code, 'frame_too_large');
  assert.deepEqual(await collect(client.call(server.address, 'count', 2)), [0, 1]);
  assert.equal(client.connectionCount, 1);
});

test('a reader that stops reading stalls the producer: bounded send queue, bounded production', async (t) => {
  let produced = 0;
  const item = 'z'.repeat(1000);
  const server = await startServer({
    firehose: async function* () {
      for (;;) {
        produced++;
        yield item;
        if (produced % 100 === 0) await new Promise((r) => setImmediate(r));
      }
    },
  });
  // A raw client that grants a huge window and never reads: only TCP backpressure can stop the server.
  const socket = await rawConnect(server.address);
  socket.pause();
  socket.write(
    encodeFrame(FrameType.Request, 1, { endpoint: 'firehose', requestId: 'r', window: 1e9, payload: null }),
  );
  let last = -1;
  let stable = 0;
  for (let i = 0; i < 200 && stable < 3; i++) {
    await sleep(50);
    stable = produced === last ? stable + 1 : 0;
    last = produced;
  }
  assert.equal(stable, 3, `the producer never stopped (${produced} items)`);
  const frameBytes = encodeFrame(FrameType.Data, 1, item).length;
  const queued = server.queuedBytes;
  assert.ok(queued <= 16 * 1024 + frameBytes, `server queued ${queued} bytes in user space`);
  assert.ok(
    produced * frameBytes < 64 * 1024 * 1024,
    `${produced} items produced for a reader that reads nothing`,
  );
  const mib = ((produced * frameBytes) / 2 ** 20).toFixed(1);
  t.diagnostic(
    `stalled reader: producer stopped after ${produced} items (${mib} MiB in kernel buffers), queue ${queued} B`,
  );

  // Reading again lets the stream continue past where it stalled.
  const decoder = new FrameDecoder();
  let received = 0;
  socket.on('data', (chunk: Buffer) => {
    for (const frame of decoder.push(chunk)) if (frame.type === FrameType.Data) received++;
  });
  socket.resume();
  await waitFor(() => received > last + 1000, 'the stream to resume past the stall point');
  socket.write(encodeFrame(FrameType.Cancel, 1));
  await waitFor(() => server.activeStreams === 0, 'the cancel');
  socket.destroy();
});

test('malformed, oversized or misdirected frames close only that connection, with a logged error', async () => {
  const server = await startServer(
    {
      count,
      slow: async function* () {
        for (let i = 0; i < 30; i++) {
          yield i;
          await sleep(3);
        }
      },
    },
    { maxFrameBytes: 64 * 1024 },
  );
  const client = newClient();
  const bystander = collect(client.call(server.address, 'slow', null));

  const oversized = Buffer.alloc(4);
  oversized.writeUInt32BE(0x7fff_ffff);
  const unknownType = encodeFrame(FrameType.Cancel, 1);
  unknownType.writeUInt8(42, 4);
  const notJson = Buffer.concat([
    Buffer.from([0, 0, 0, 7, FrameType.Request, 0, 0, 0, 1]),
    Buffer.from('{{'),
  ]);
  const attacks: Array<[string, Buffer]> = [
    ['too short', Buffer.from([0, 0, 0, 1, 7])],
    ['oversized', oversized],
    ['unknown type', unknownType],
    ['bad JSON', notJson],
    ['bad REQUEST', encodeFrame(FrameType.Request, 1, { endpoint: 42 })],
    ['server-only frame', encodeFrame(FrameType.Data, 1, 'hi')],
  ];
  for (const [name, bytes] of attacks) {
    logLines.length = 0;
    const socket = await rawConnect(server.address);
    const gone = closed(socket);
    socket.write(bytes);
    await gone;
    assert.ok(
      logLines.some((line) => /ERROR.*protocol error/.test(line)),
      `${name}: no error logged (${logLines.join(' | ')})`,
    );
  }
  assert.deepEqual(
    await bystander,
    Array.from({ length: 30 }, (_, i) => i),
  );
  assert.deepEqual(await collect(client.call(server.address, 'count', 2)), [0, 1]);
});

test('a worker that sends garbage fails the client streams with StreamDisconnectedError (cause FrameError)', async () => {
  const liar = createServer((socket) => {
    socket.once('data', () => socket.write(Buffer.from([0, 0, 0, 3, 1, 2, 3])));
  });
  await new Promise<void>((resolve) => liar.listen(0, '127.0.0.1', resolve));
  const port = (liar.address() as { port: number }).port;
  const client = newClient();
  logLines.length = 0;
  const { error } = await collectUntilError(client.call(`127.0.0.1:${port}`, 'generate', null));
  assert.ok(error instanceof StreamDisconnectedError, `got ${String(error)}`);
  assert.ok(error.cause instanceof FrameError);
  assert.ok(logLines.some((line) => /protocol error/.test(line)));
  await new Promise((resolve) => liar.close(resolve));
});
