/**
 * Shared by Lab 4.6's script and check: a two-rank TCP ring in this process (both ends on loopback) and
 * timed all-reduces over it, so a link can be fitted and a prediction compared with a measurement.
 */
import { createServer } from 'node:net';
import { openRing, type PeerAddress, TcpRingAllReduce } from '../../../src/model/index.ts';

export interface RingPair {
  ranks: TcpRingAllReduce[];
  close(): void;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/** N ranks of a ring, all in this process, on loopback. */
export async function localRing(size: number): Promise<RingPair> {
  const peers: PeerAddress[] = [];
  for (let r = 0; r < size; r++) peers.push({ host: '127.0.0.1', port: await freePort() });
  const rings = await Promise.all(
    peers.map((_, rank) => openRing({ rank, peers, timeoutMs: 10_000, fingerprint: 'lab-4.6' })),
  );
  return {
    ranks: rings.map((r) => new TcpRingAllReduce(r)),
    close: () => {
      for (const r of rings) r.close();
    },
  };
}

/** Median ms of one all-reduce of `floats` values, every rank taking part (they run concurrently). */
export async function timeAllReduce(pair: RingPair, floats: number, repeats: number): Promise<number> {
  const bufs = pair.ranks.map((_, r) => new Float32Array(floats).fill(r + 1));
  const times: number[] = [];
  for (let i = 0; i < repeats + 1; i++) {
    const t0 = performance.now();
    await Promise.all(pair.ranks.map((rank, r) => rank.allReduce(bufs[r]!, floats)));
    if (i > 0) times.push(performance.now() - t0); // the first one warms the sockets
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)]!;
}
