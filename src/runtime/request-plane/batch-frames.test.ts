/**
 * `batch` streams (CallOptions.batch, REQUEST `batch: true`): the first item alone, the rest in DATA_BATCH
 * frames of at most MAX_BATCH_ITEMS, never more than the credit allows, and the same items in the same
 * order at the caller as without batching, failures included. Checked on the wire with a raw socket.
 */
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { afterEach, test } from 'node:test';
import { FrameType, frameTypeName } from '../../protocols/request-plane.ts';
import { RequestPlaneClient } from './client.ts';
import { RemoteError } from './errors.ts';
import { encodeFrame, FrameDecoder, parsePayload, type RawFrame } from './frame-codec.ts';
import { collect, collectUntilError } from './request-plane.conformance.ts';
import { RequestPlaneServer } from './server.ts';
import { MAX_BATCH_ITEMS } from './stream-pump.ts';

const servers: RequestPlaneServer[] = [];
const clients: RequestPlaneClient[] = [];
const sockets: Socket[] = [];
afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.destroy();
  for (const client of clients.splice(0)) await client.close();
  for (const server of servers.splice(0)) await server.stop({ drainMs: 0 });
});

async function* count(payload: unknown) {
  for (let i = 0; i < (payload as number); i++) yield i;
}

async function* countThenFail(payload: unknown) {
  yield* count(payload);
  throw new Error('the engine broke');
}

async function startServer(): Promise<RequestPlaneServer> {
  const server = new RequestPlaneServer();
  server.register('count', count);
  server.register('fail', countThenFail);
  await server.start();
  servers.push(server);
  return server;
}

/** A raw connection that records every frame the server sends. */
async function rawPeer(
  address: string,
): Promise<{ socket: Socket; frames: RawFrame[]; until(n: number): Promise<void> }> {
  const [host, port] = address.split(':');
  const socket = await new Promise<Socket>((resolve, reject) => {
    const s = connect({ host, port: Number(port) }, () => resolve(s));
    s.once('error', reject);
  });
  sockets.push(socket);
  const frames: RawFrame[] = [];
  const decoder = new FrameDecoder();
  let wake = () => {};
  socket.on('data', (chunk: Buffer) => {
    frames.push(...decoder.push(chunk));
    wake();
  });
  const until = (n: number) =>
    new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`only ${frames.length} of ${n} frames arrived`)), 5000);
      wake = () => {
        if (frames.length < n) return;
        clearTimeout(timer);
        resolve();
      };
      wake();
    });
  return { socket, frames, until };
}

const request = (endpoint: string, payload: unknown, window: number, batch?: boolean) =>
  encodeFrame(FrameType.Request, 1, {
    endpoint,
    requestId: 'r1',
    window,
    payload,
    ...(batch ? { batch } : {}),
  });

/** "DATA 0", "DATABATCH 1..16", "FINAL": what each frame carried. */
function describe(frame: RawFrame): string {
  const name = frameTypeName(frame.type);
  if (frame.type === FrameType.Data) return `${name} ${parsePayload(frame)}`;
  if (frame.type === FrameType.DataBatch) {
    const items = parsePayload(frame) as number[];
    return `${name} ${items[0]}..${items.at(-1)}`;
  }
  return name;
}

test('a batch stream sends its first item alone, then DATA_BATCH frames of at most MAX_BATCH_ITEMS', async () => {
  const server = await startServer();
  const peer = await rawPeer(server.address);
  peer.socket.write(request('count', 40, 64, true));
  await peer.until(5);
  assert.equal(MAX_BATCH_ITEMS, 16);
  assert.deepEqual(peer.frames.map(describe), [
    'DATA 0',
    'DATABATCH 1..16',
    'DATABATCH 17..32',
    'DATABATCH 33..39',
    'FINAL',
  ]);
  const items = peer.frames.flatMap((f) => (f.type === FrameType.Final ? [] : [parsePayload(f)].flat()));
  assert.deepEqual(
    items,
    Array.from({ length: 40 }, (_, i) => i),
  );
});

test('without batch every item is its own DATA frame', async () => {
  const server = await startServer();
  const peer = await rawPeer(server.address);
  peer.socket.write(request('count', 5, 64));
  await peer.until(6);
  assert.deepEqual(peer.frames.map(describe), ['DATA 0', 'DATA 1', 'DATA 2', 'DATA 3', 'DATA 4', 'FINAL']);
});

test('a batch never overruns the window: it flushes when the credit is spent and waits for WINDOW', async () => {
  const server = await startServer();
  const peer = await rawPeer(server.address);
  peer.socket.write(request('count', 10, 4, true));
  await peer.until(2);
  await new Promise((resolve) => setTimeout(resolve, 50)); // nothing more may come without credit
  assert.deepEqual(peer.frames.map(describe), ['DATA 0', 'DATABATCH 1..3']);
  peer.socket.write(encodeFrame(FrameType.Window, 1, { credit: 4 }));
  await peer.until(3);
  peer.socket.write(encodeFrame(FrameType.Window, 1, { credit: 4 }));
  await peer.until(5);
  assert.deepEqual(peer.frames.map(describe), [
    'DATA 0',
    'DATABATCH 1..3',
    'DATABATCH 4..7',
    'DATABATCH 8..9',
    'FINAL',
  ]);
});

test('the caller sees the same items with and without batch, and a failure after the held items', async () => {
  const server = await startServer();
  const client = new RequestPlaneClient();
  clients.push(client);
  const expected = Array.from({ length: 37 }, (_, i) => i);
  assert.deepEqual(await collect(client.call(server.address, 'count', 37, { batch: true })), expected);
  assert.deepEqual(await collect(client.call(server.address, 'count', 37)), expected);
  const failed = await collectUntilError(client.call(server.address, 'fail', 5, { batch: true }));
  assert.deepEqual(failed.items, [0, 1, 2, 3, 4]);
  assert.ok(failed.error instanceof RemoteError);
  assert.match(failed.error.message, /the engine broke/);
});
