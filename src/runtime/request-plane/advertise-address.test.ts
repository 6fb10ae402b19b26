import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RequestPlaneServer } from './server.ts';
import { TcpRequestPlane } from './tcp-request-plane.ts';

test('a server bound to 0.0.0.0 reports its advertised host as its address, and callers reach it there', async () => {
  const plane = new TcpRequestPlane({ host: '0.0.0.0', advertiseHost: '127.0.0.1' });
  const handle = await plane.serve({
    echo: async function* (payload) {
      yield payload;
    },
  });
  try {
    assert.match(handle.address, /^127\.0\.0\.1:\d+$/);
    const items: unknown[] = [];
    for await (const item of plane.call(handle.address, 'echo', { hello: 'node' })) items.push(item);
    assert.deepEqual(items, [{ hello: 'node' }]);
  } finally {
    await handle.stop({ drainMs: 0 });
    await plane.close();
  }
});

test('a wildcard bind without an advertise host has no address to publish: a clear error', async () => {
  const server = new RequestPlaneServer({ host: '0.0.0.0' });
  await server.start();
  try {
    assert.throws(() => server.address, /add --advertise-host ADDR/);
  } finally {
    await server.stop({ drainMs: 0 });
  }
});
