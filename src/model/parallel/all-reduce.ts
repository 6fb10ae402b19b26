/**
 * All-reduce (sum): after `allReduce(buf, n)` every rank holds the elementwise sum of all ranks' buf[0:n).
 * The two row-parallel products of every layer (attention's o and the MLP's down) end with one, so a
 * tensor-parallel forward does 2 × numLayers of them per step, each of rows × hiddenSize floats.
 *
 * Two transports behind one interface, like a socket API over shared memory or TCP:
 *   SharedMemoryAllReduce  ranks are threads: each copies its partial sum into its slot of a
 *                          SharedArrayBuffer, a barrier, each sums all slots in rank order, a barrier
 *   TcpRingAllReduce       ranks are processes (tcp-ring.ts): reduce-scatter + all-gather around a ring
 *
 * Every rank must end with the SAME bits (the residual stream is replicated and the ranks must not
 * drift apart), so the shared-memory sum runs in rank order on every rank and the ring copies each
 * reduced chunk from its owner.
 */
import { DhwError } from '../../util/errors.ts';

/** A rank failed, died, or stopped answering: the whole group is unusable. */
export class TpGroupError extends DhwError {}

export interface AllReduceStats {
  /** All-reduce calls so far. */
  calls: number;
  /** Bytes summed (n × 4 per call): the tensor being reduced, the same on every rank. */
  payloadBytes: number;
  /** Bytes this rank put on a link (ring: 2(N−1)/N of the payload; shared memory: its slot writes). */
  sentBytes: number;
  /** Wall time spent inside allReduce (waiting for peers included), ms. */
  ms: number;
}

export interface AllReduce {
  readonly rank: number;
  readonly size: number;
  /** Sums buf[0:length) over all ranks, in place. Rejects (TpGroupError) when a peer fails or times out. */
  allReduce(buf: Float32Array, length: number): Promise<void>;
  readonly stats: AllReduceStats;
  /** Marks the group failed so every rank's next (or current) wait ends with `reason`. */
  abort(reason: string): void;
  close(): void;
}

export function emptyStats(): AllReduceStats {
  return { calls: 0, payloadBytes: 0, sentBytes: 0, ms: 0 };
}

/** The shared memory of a thread group: control words and one slot per rank. Pass it to every thread. */
export interface SharedAllReduceMemory {
  control: SharedArrayBuffer; // Int32: COUNT, GEN, ABORTED
  data: SharedArrayBuffer; // Float32: size × slotFloats
  slotFloats: number;
}

const COUNT = 0; // ranks arrived at the current barrier
const GEN = 1; // barrier generation: bumped by the last arriver, waited on by the others
const ABORTED = 2; // 1 once any rank gave up
/** Spin before sleeping on the futex: a barrier partner is usually microseconds away. */
const SPIN_ITERATIONS = 2000;
/** Floats per rank slot (1 MiB): longer tensors go through in chunks. */
export const DEFAULT_SLOT_FLOATS = 1 << 18;

export function createSharedAllReduceMemory(
  size: number,
  slotFloats = DEFAULT_SLOT_FLOATS,
): SharedAllReduceMemory {
  return {
    control: new SharedArrayBuffer(4 * Int32Array.BYTES_PER_ELEMENT),
    data: new SharedArrayBuffer(size * slotFloats * Float32Array.BYTES_PER_ELEMENT),
    slotFloats,
  };
}

export class SharedMemoryAllReduce implements AllReduce {
  readonly stats = emptyStats();
  private readonly control: Int32Array;
  private readonly data: Float32Array;
  private readonly slot: number;

  constructor(
    memory: SharedAllReduceMemory,
    readonly rank: number,
    readonly size: number,
    private readonly timeoutMs: number,
  ) {
    this.control = new Int32Array(memory.control);
    this.data = new Float32Array(memory.data);
    this.slot = memory.slotFloats;
  }

  allReduce(buf: Float32Array, length: number): Promise<void> {
    const t0 = performance.now();
    try {
      for (let off = 0; off < length; off += this.slot)
        this.reduceChunk(buf, off, Math.min(this.slot, length - off));
    } catch (err) {
      return Promise.reject(err);
    }
    this.stats.calls++;
    this.stats.payloadBytes += length * 4;
    this.stats.sentBytes += length * 4;
    this.stats.ms += performance.now() - t0;
    return Promise.resolve();
  }

  abort(_reason: string): void {
    Atomics.store(this.control, ABORTED, 1);
    Atomics.notify(this.control, GEN);
  }

  close(): void {}

  private reduceChunk(buf: Float32Array, off: number, n: number): void {
    const d = this.data;
    const s = this.slot;
    d.set(buf.subarray(off, off + n), this.rank * s);
    this.barrier(); // every slot written
    for (let i = 0; i < n; i++) {
      let sum = d[i]!;
      for (let r = 1; r < this.size; r++) sum += d[r * s + i]!; // rank order: the same bits on every rank
      buf[off + i] = sum;
    }
    this.barrier(); // every slot read: nobody overwrites one a slower rank still needs
  }

  /** A generation barrier on a futex (Atomics.wait), with a deadline and the group's abort flag. */
  private barrier(): void {
    const c = this.control;
    const gen = Atomics.load(c, GEN);
    if (Atomics.add(c, COUNT, 1) === this.size - 1) {
      Atomics.store(c, COUNT, 0);
      Atomics.add(c, GEN, 1);
      Atomics.notify(c, GEN);
      return;
    }
    for (let i = 0; i < SPIN_ITERATIONS; i++) if (Atomics.load(c, GEN) !== gen) return;
    const deadline = performance.now() + this.timeoutMs;
    while (Atomics.load(c, GEN) === gen) {
      if (Atomics.load(c, ABORTED) === 1)
        throw new TpGroupError(
          `tensor-parallel rank ${this.rank}: another rank failed; the group is stopped`,
        );
      const left = deadline - performance.now();
      if (left <= 0) {
        this.abort('timeout');
        throw new TpGroupError(
          `tensor-parallel rank ${this.rank}: no answer from the other ranks within ${this.timeoutMs} ms ` +
            '(a rank thread died or is stuck)',
        );
      }
      Atomics.wait(c, GEN, gen, Math.min(left, 100));
    }
  }
}
