/**
 * The cluster-secret handshake on the request plane: a worker started with a secret runs no endpoint for a
 * caller that lacks it (none, or a different one), and a raw socket speaking frames at once is cut before
 * its REQUEST is read; a caller with the same secret is served as before.
 */
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, afterEach, test } from 'node:test';
import { FrameType } from '../../protocols/request-plane.ts';
import { ClusterSecret } from '../../util/cluster-secret.ts';
import { configureLogging } from '../../util/logger.ts';
import { RequestPlaneClient } from './client.ts';
import { ConnectError, StreamDisconnectedError } from './errors.ts';
import { encodeFrame } from './frame-codec.ts';
import { collect } from './request-plane.conformance.ts';
import { RequestPlaneServer } from './server.ts';

const logLines: string[] = [];
configureLogging({ write: (line) => logLines.push(line) });
after(() => configureLogging({ write: (line) => process.stderr.write(`${line}\n`) }));

const secret = ClusterSecret.fromBytes('a'.repeat(32));
const otherSecret = ClusterSecret.fromBytes('b'.repeat(32));
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

/** A worker whose endpoints count how often they ran. */
async function startWorker(clusterSecret?: ClusterSecret) {
  const calls = { generate: 0, kv_snapshot: 0 };
  const server = new RequestPlaneServer({ clusterSecret });
  server.register('generate', async function* () {
    calls.generate++;
    yield 'token';
  });
  server.register('kv_snapshot', async function* () {
    calls.kv_snapshot++;
    yield { blocks: [[1, 2, 3]] };
  });
  await server.start();
  cleanups.push(() => server.stop({ drainMs: 0 }));
  return { server, calls };
}

function newClient(clusterSecret?: ClusterSecret) {
  const client = new RequestPlaneClient({ clusterSecret, connectTimeoutMs: 2000 });
  cleanups.push(() => client.close());
  return client;
}

test('a caller with the same secret is served', async () => {
  const { server, calls } = await startWorker(secret);
  const items = await collect(newClient(secret).call(server.address, 'generate', {}));
  assert.deepEqual(items, ['token']);
  assert.equal(calls.generate, 1);
});

test('a caller with a different secret is refused at connection setup; no endpoint runs', async () => {
  const { server, calls } = await startWorker(secret);
  for (const endpoint of ['generate', 'kv_snapshot']) {
    await assert.rejects(collect(newClient(otherSecret).call(server.address, endpoint, {})), (error) => {
      assert.ok(error instanceof ConnectError);
      assert.match(error.message, /--cluster-secret-file/);
      return true;
    });
  }
  assert.deepEqual(calls, { generate: 0, kv_snapshot: 0 });
  assert.ok(logLines.some((line) => line.includes('cluster-secret handshake failed')));
});

test('a caller without a secret gets no stream and a message naming the flag', async () => {
  const { server, calls } = await startWorker(secret);
  await assert.rejects(
    collect(newClient().call(server.address, 'kv_snapshot', {})),
    (error) => error instanceof StreamDisconnectedError,
  );
  assert.equal(calls.kv_snapshot, 0);
  assert.ok(logLines.some((line) => line.includes('the worker requires a cluster secret')));
});

test('a raw socket that sends a REQUEST frame at once is cut before the frame is read', async () => {
  const { server, calls } = await startWorker(secret);
  const [host, port] = server.address.split(':');
  const socket = connect({ host, port: Number(port) });
  const request = { endpoint: 'kv_snapshot', requestId: 'r1', window: 8, payload: {} };
  // 64 bytes of REQUEST stand where the handshake RESPONSE goes: the MAC check fails and the socket closes.
  socket.write(encodeFrame(FrameType.Request, 1, request, 1 << 20));
  const received: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => received.push(chunk));
  await new Promise((resolve) => socket.on('close', resolve));
  assert.equal(calls.kv_snapshot, 0);
  // Only the 40-byte challenge came back: no DATA frame with anyone's token ids.
  assert.equal(Buffer.concat(received).length, 40);
});

test('a caller with a secret refuses a worker that cannot prove it', async () => {
  const { server } = await startWorker();
  await assert.rejects(collect(newClient(secret).call(server.address, 'generate', {})), ConnectError);
});

test('the secret must be long enough and never prints', () => {
  assert.throws(() => ClusterSecret.fromBytes('short'), /use at least 16/);
  assert.equal(String(secret), 'ClusterSecret(redacted)');
  assert.equal(JSON.stringify({ secret }), '{"secret":"ClusterSecret(redacted)"}');
});
