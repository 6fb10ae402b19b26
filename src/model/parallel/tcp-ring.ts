/**
 * Ranks as processes: a ring of TCP connections (rank r → rank r+1 mod N) and the ring all-reduce over it.
 *
 *   rank 0 ──► rank 1 ──► ... ──► rank N−1 ──┐
 *     ▲──────────────────────────────────────┘
 *
 * Every rank listens on its own peers[r] address and dials peers[r+1] (retrying until the deadline while
 * the others start), then says HELLO with its rank and the model's shape so a miswired ring fails at once.
 *
 * The all-reduce is the bandwidth-optimal ring (Baidu's, NCCL's for large tensors): the tensor is cut into
 * N chunks; N−1 reduce-scatter steps (send one chunk forward, add the one from behind) leave each rank
 * owning one fully summed chunk, and N−1 all-gather steps pass the summed chunks around. Each rank sends
 * 2(N−1)/N of the tensor whatever N is; every step is one send and one receive per rank, all in parallel.
 */
import { createConnection, createServer, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { type AllReduce, emptyStats, TpGroupError } from './all-reduce.ts';
import { FRAME, FramedSocket } from './framed-socket.ts';

export interface PeerAddress {
  host: string;
  port: number;
}

/** "h0:p0,h1:p1,..." (rank order) → addresses; bad entries are named. */
export function parsePeers(spec: string): PeerAddress[] {
  return spec.split(',').map((entry) => {
    const at = entry.trim().lastIndexOf(':');
    const host = entry.trim().slice(0, at);
    const port = Number(entry.trim().slice(at + 1));
    if (at <= 0 || !Number.isInteger(port) || port < 1 || port > 65535)
      throw new TpGroupError(`--tp-peers: "${entry}" is not HOST:PORT (one entry per rank, rank 0 first)`);
    return { host, port };
  });
}

export interface RingOptions {
  rank: number;
  peers: PeerAddress[];
  /** Address to bind (default: peers[rank].host); peers[rank] is what the others dial. */
  bindHost?: string;
  /** Connect retries and every wait for a peer end after this long. */
  timeoutMs: number;
  /** What both ends of a link must agree on (model shape): compared in the HELLO. */
  fingerprint: string;
}

/** The two links of one rank: to the next rank (sends) and from the previous one (receives). */
export interface Ring {
  rank: number;
  size: number;
  next: FramedSocket;
  prev: FramedSocket;
  close(): void;
}

export async function openRing(o: RingOptions): Promise<Ring> {
  const size = o.peers.length;
  const me = o.peers[o.rank]!;
  const nextRank = (o.rank + 1) % size;
  const prevRank = (o.rank - 1 + size) % size;
  const server = createServer();
  const accepted = new Promise<Socket>((resolve, reject) => {
    server.once('connection', resolve);
    server.once('error', reject);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) =>
      reject(
        new TpGroupError(
          `rank ${o.rank} cannot listen on ${o.bindHost ?? me.host}:${me.port}: ${err.message}`,
        ),
      ),
    );
    server.listen(me.port, o.bindHost ?? me.host, () => resolve());
  });
  try {
    const nextAddr = o.peers[nextRank]!;
    const nextSocket = await dial(nextAddr, o.timeoutMs, `rank ${nextRank}`);
    const next = new FramedSocket(
      nextSocket,
      `rank ${nextRank} (${nextAddr.host}:${nextAddr.port})`,
      o.timeoutMs,
    );
    next.send(FRAME.HELLO, Buffer.from(JSON.stringify({ rank: o.rank, size, fingerprint: o.fingerprint })));
    const prevSocket = await withDeadline(
      accepted,
      o.timeoutMs,
      `rank ${prevRank} never connected to rank ${o.rank}`,
    );
    const prev = new FramedSocket(prevSocket, `rank ${prevRank}`, o.timeoutMs);
    const hello = JSON.parse((await prev.expect(FRAME.HELLO)).toString()) as {
      rank: number;
      size: number;
      fingerprint: string;
    };
    if (hello.rank !== prevRank || hello.size !== size || hello.fingerprint !== o.fingerprint)
      throw new TpGroupError(
        `rank ${o.rank} expected rank ${prevRank}/${size} of model ${o.fingerprint}, ` +
          `but rank ${hello.rank}/${hello.size} of ${hello.fingerprint} connected: check --tp-peers and --model`,
      );
    server.close(); // one connection per link; nothing else may join
    return {
      rank: o.rank,
      size,
      next,
      prev,
      close: () => {
        next.close();
        prev.close();
      },
    };
  } catch (err) {
    server.close();
    throw err;
  }
}

async function dial(addr: PeerAddress, timeoutMs: number, who: string): Promise<Socket> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await new Promise<Socket>((resolve, reject) => {
        const s = createConnection(addr.port, addr.host, () => resolve(s));
        s.once('error', reject);
      });
    } catch (err) {
      if (Date.now() > deadline)
        throw new TpGroupError(
          `cannot reach ${who} at ${addr.host}:${addr.port} within ${timeoutMs} ms: ${(err as Error).message}`,
        );
      await sleep(50);
    }
  }
}

function withDeadline<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new TpGroupError(`${what} within ${ms} ms`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

export class TcpRingAllReduce implements AllReduce {
  readonly stats = emptyStats();
  readonly rank: number;
  readonly size: number;

  constructor(private readonly ring: Ring) {
    this.rank = ring.rank;
    this.size = ring.size;
  }

  async allReduce(buf: Float32Array, length: number): Promise<void> {
    const t0 = performance.now();
    const n = this.size;
    const bounds = (c: number): [number, number] => [
      Math.floor((c * length) / n),
      Math.floor(((c + 1) * length) / n),
    ];
    const mod = (i: number): number => ((i % n) + n) % n;
    // Reduce-scatter: after step s, chunk rank−s−1 holds s+2 ranks' partial sums here.
    for (let s = 0; s < n - 1; s++) {
      this.sendChunk(buf, bounds(mod(this.rank - s)));
      const [a, b] = bounds(mod(this.rank - s - 1));
      const incoming = await this.receiveChunk(b - a);
      for (let i = 0; i < b - a; i++) buf[a + i]! += incoming[i]!;
    }
    // All-gather: this rank owns chunk rank+1 (fully summed); pass the summed chunks around.
    for (let s = 0; s < n - 1; s++) {
      this.sendChunk(buf, bounds(mod(this.rank - s + 1)));
      const [a, b] = bounds(mod(this.rank - s));
      buf.set(await this.receiveChunk(b - a), a);
    }
    this.stats.calls++;
    this.stats.payloadBytes += length * 4;
    this.stats.ms += performance.now() - t0;
  }

  abort(_reason: string): void {
    this.ring.close();
  }

  close(): void {
    this.ring.close();
  }

  private sendChunk(buf: Float32Array, [a, b]: [number, number]): void {
    // A copy: the caller reuses buf before the kernel has flushed the socket.
    const bytes = Buffer.from(new Uint8Array(buf.buffer, buf.byteOffset + a * 4, (b - a) * 4));
    this.ring.next.send(FRAME.DATA, bytes);
    this.stats.sentBytes += bytes.length;
  }

  private async receiveChunk(floats: number): Promise<Float32Array> {
    const payload = await this.ring.prev.expect(FRAME.DATA);
    if (payload.length !== floats * 4)
      throw new TpGroupError(
        `rank ${this.rank}: a chunk of ${payload.length} bytes came, ${floats * 4} expected`,
      );
    const out = new Float32Array(floats); // aligned copy (a frame may start at any byte)
    new Uint8Array(out.buffer).set(payload);
    return out;
  }
}
