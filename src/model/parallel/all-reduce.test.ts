/**
 * The two all-reduces on their own: sums (uneven chunking, several ranks, tensors longer than a slot), the
 * same bits on every rank, byte counts, and failing fast: a rank that never arrives times out, an abort
 * stops the others, a closed ring link rejects.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { describe, it } from 'node:test';
import { createSharedAllReduceMemory, SharedMemoryAllReduce, TpGroupError } from './all-reduce.ts';
import { openRing, type PeerAddress, parsePeers, TcpRingAllReduce } from './tcp-ring.ts';

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

async function ring(size: number): Promise<TcpRingAllReduce[]> {
  const peers: PeerAddress[] = [];
  for (let r = 0; r < size; r++) peers.push({ host: '127.0.0.1', port: await freePort() });
  const rings = await Promise.all(
    peers.map((_, rank) => openRing({ rank, peers, timeoutMs: 5000, fingerprint: 'test' })),
  );
  return rings.map((r) => new TcpRingAllReduce(r));
}

/** Rank r's input: values that make float sums order-sensitive, so "same bits" is a real check. */
function input(rank: number, n: number): Float32Array {
  return Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.7 + rank) * 10 ** ((i + rank) % 7));
}

/** The exact sum and the sum of magnitudes (float32 rounding scales with the terms, not the result). */
function expectedSum(size: number, n: number): { sum: Float64Array; scale: Float64Array } {
  const sum = new Float64Array(n);
  const scale = new Float64Array(n);
  for (let r = 0; r < size; r++)
    input(r, n).forEach((v, i) => {
      sum[i]! += v;
      scale[i]! += Math.abs(v);
    });
  return { sum, scale };
}

describe('TcpRingAllReduce', () => {
  for (const [size, n] of [
    [2, 1],
    [2, 1000],
    [3, 7],
    [4, 4099],
  ] as const) {
    it(`${size} ranks, ${n} floats: the sum, the same bits everywhere, 2(N−1)/N of the bytes sent`, async () => {
      const ranks = await ring(size);
      try {
        const bufs = ranks.map((_, r) => input(r, n));
        await Promise.all(ranks.map((rank, r) => rank.allReduce(bufs[r]!, n)));
        const { sum, scale } = expectedSum(size, n);
        let worst = 0;
        for (let i = 0; i < n; i++)
          worst = Math.max(worst, Math.abs(bufs[0]![i]! - sum[i]!) / Math.max(1, scale[i]!));
        assert.ok(worst <= 1e-6, `relative error ${worst}`);
        for (const b of bufs.slice(1)) assert.deepEqual(b, bufs[0]);
        const sent = ranks.reduce((s, r) => s + r.stats.sentBytes, 0);
        assert.equal(sent, 2 * (size - 1) * n * 4, 'every element crosses 2(N−1) links in total');
        assert.equal(ranks[0]!.stats.payloadBytes, n * 4);
      } finally {
        for (const r of ranks) r.close();
      }
    });
  }

  it('a closed link rejects the waiting rank with a TpGroupError naming the peer', async () => {
    const [a, b] = await ring(2);
    b!.close();
    await assert.rejects(a!.allReduce(new Float32Array(8), 8), (err: Error) => {
      assert.ok(err instanceof TpGroupError);
      assert.match(err.message, /link to rank 1 .*(closed|broke)|rank 1 .*closed/);
      return true;
    });
    a!.close();
  });

  it('rejects malformed --tp-peers entries by name', () => {
    assert.deepEqual(parsePeers('10.0.0.1:7100, 10.0.0.2:7101'), [
      { host: '10.0.0.1', port: 7100 },
      { host: '10.0.0.2', port: 7101 },
    ]);
    assert.throws(() => parsePeers('10.0.0.1:7100,10.0.0.2'), /"10.0.0.2" is not HOST:PORT/);
  });

  it('a dial to a rank that never starts gives up at the deadline, naming the address', async () => {
    const peers = [
      { host: '127.0.0.1', port: await freePort() },
      { host: '127.0.0.1', port: await freePort() },
    ];
    await assert.rejects(
      openRing({ rank: 0, peers, timeoutMs: 300, fingerprint: 'x' }),
      /cannot reach rank 1 at 127\.0\.0\.1:\d+ within 300 ms/,
    );
  });
});

describe('SharedMemoryAllReduce', () => {
  it('a one-rank group passes a tensor longer than its slot through, chunk by chunk', async () => {
    // Two ranks on one thread can never meet at a futex barrier; the two- and four-thread sums are
    // covered end to end by tp-forward.test.ts (logits vs TP = 1).
    const mem = createSharedAllReduceMemory(1, 16);
    const one = new SharedMemoryAllReduce(mem, 0, 1, 1000);
    const buf = input(0, 50);
    const copy = buf.slice();
    await one.allReduce(buf, 50);
    assert.deepEqual(buf, copy);
    assert.equal(one.stats.payloadBytes, 200);
  });

  it('a rank that never arrives: the barrier gives up at the deadline with a TpGroupError', async () => {
    const mem = createSharedAllReduceMemory(2, 16);
    const lonely = new SharedMemoryAllReduce(mem, 0, 2, 200);
    const t0 = Date.now();
    await assert.rejects(
      lonely.allReduce(new Float32Array(4), 4),
      /no answer from the other ranks within 200 ms/,
    );
    assert.ok(Date.now() - t0 < 5000);
  });

  it('after an abort every waiting or later rank fails at once', async () => {
    const mem = createSharedAllReduceMemory(2, 16);
    new SharedMemoryAllReduce(mem, 1, 2, 60_000).abort('rank 1 failed');
    const rank0 = new SharedMemoryAllReduce(mem, 0, 2, 60_000);
    const t0 = Date.now();
    await assert.rejects(rank0.allReduce(new Float32Array(4), 4), /another rank failed/);
    assert.ok(Date.now() - t0 < 5000, 'no 60 s wait');
  });
});
