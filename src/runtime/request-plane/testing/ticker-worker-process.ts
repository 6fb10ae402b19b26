/**
 * A stand-alone worker process for tests that need to kill a real server: serves `ticks` (0, 1, 2, ...
 * every 5 ms, forever) on a free loopback port and prints `LISTENING host:port` on stdout.
 * Run: node --import tsx src/runtime/request-plane/testing/ticker-worker-process.ts
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { RequestPlaneServer } from '../server.ts';

const server = new RequestPlaneServer({ host: '127.0.0.1', port: 0 });
server.register('ticks', async function* (_payload, ctx) {
  for (let i = 0; !ctx.signal.aborted; i++) {
    yield i;
    await sleep(5);
  }
});
await server.start();
process.stdout.write(`LISTENING ${server.address}\n`);
