/**
 * TensorParallelGroup: rank 0's handle on a group of N ranks, what the engine drives. Rank 0 runs on the
 * caller's thread; each step it sends the batch to the other ranks, runs its own shard's forward, and
 * returns the logits (only rank 0 has them). The ranks are
 *
 *   'threads'  worker threads in this process, all-reduce through a SharedArrayBuffer (all-reduce.ts)
 *   'tcp'      processes (`dhw tp-rank`), maybe on other hosts, ring all-reduce over TCP (tcp-ring.ts);
 *              the batch travels along the ring ahead of the layer traffic
 *
 * Like a primary replicating a command log to its followers: rank 0 decides, the others replay the same
 * step on their shard. A rank that fails, dies or stops answering fails the step (TpGroupError) and every
 * later one: the group is all or nothing.
 */
import { Worker } from 'node:worker_threads';
import { loadModelConfig, type ModelConfig } from '../checkpoint/config.ts';
import type { ForwardBatch, KvCacheTensors } from '../forward-batch.ts';
import type { KernelOptions } from '../kernels/index.ts';
import {
  type AllReduceStats,
  createSharedAllReduceMemory,
  SharedMemoryAllReduce,
  TpGroupError,
} from './all-reduce.ts';
import { encodeBatch } from './batch-wire.ts';
import { FRAME } from './framed-socket.ts';
import type { RankThreadData, RankThreadMessage } from './rank-thread.ts';
import { openRing, type PeerAddress, type Ring, TcpRingAllReduce } from './tcp-ring.ts';
import { TpRankModel } from './tp-forward.ts';
import { checkTensorParallelSize } from './tp-plan.ts';

export type TpTransport = 'threads' | 'tcp';

export interface TpGroupOptions {
  dir: string;
  size: number;
  transport: TpTransport;
  /** 'tcp': every rank's address, rank order; peers[0] is where this rank (0) listens. */
  peers?: PeerAddress[];
  /** 'tcp': the address rank 0 binds (default: peers[0].host). */
  bindHost?: string;
  /** How long a rank may take to answer (connect, a layer's all-reduce) before the group fails (default 30 s). */
  timeoutMs?: number;
  kernelOptions?: KernelOptions;
}

export const DEFAULT_TP_TIMEOUT_MS = 30_000;

/** How rank 0 reaches the other ranks' control path. */
interface Followers {
  init(numBlocks: number, blockSize: number): void;
  step(batch: ForwardBatch): void;
  failure(): Error | null;
  close(): Promise<void>;
}

/** A short description of a model's shape that every rank must agree on. */
export function modelFingerprint(c: ModelConfig): string {
  return `${c.architecture}:${c.numLayers}x${c.hiddenSize}:h${c.numHeads}/${c.numKvHeads}:i${c.intermediateSize}:v${c.vocabSize}`;
}

export class TensorParallelGroup {
  private failed: Error | null = null;

  /** Use `start`; the constructor only wires a started rank 0 to its followers. */
  constructor(
    readonly rank0: TpRankModel,
    private readonly followers: Followers,
    readonly transport: TpTransport,
  ) {}

  static async start(o: TpGroupOptions): Promise<TensorParallelGroup> {
    const config = loadModelConfig(o.dir);
    checkTensorParallelSize(config, o.size);
    const timeoutMs = o.timeoutMs ?? DEFAULT_TP_TIMEOUT_MS;
    if (o.transport === 'threads') return startThreads(o, timeoutMs);
    if (!o.peers || o.peers.length !== o.size)
      throw new TpGroupError(
        `tcp tensor parallelism needs --tp-peers with ${o.size} HOST:PORT entries (rank 0 first), got ${o.peers?.length ?? 0}`,
      );
    const ring = await openRing({
      rank: 0,
      peers: o.peers,
      bindHost: o.bindHost,
      timeoutMs,
      fingerprint: modelFingerprint(config),
    });
    try {
      const comm = new TcpRingAllReduce(ring);
      const model = await TpRankModel.load(o.dir, 0, comm, o.kernelOptions);
      return new TensorParallelGroup(model, ringFollowers(ring), 'tcp');
    } catch (err) {
      ring.close();
      throw err;
    }
  }

  get size(): number {
    return this.rank0.shard.size;
  }

  /** The full model's config (rank 0's shard config is `rank0.local`). */
  get config(): ModelConfig {
    return this.rank0.config;
  }

  /** Rank 0's shard of the cache; every other rank allocates the same block count for its KV heads. */
  allocateKvCache(numBlocks: number, blockSize: number): KvCacheTensors {
    this.followers.init(numBlocks, blockSize);
    return this.rank0.allocateKvCache(numBlocks, blockSize);
  }

  /** One step on every rank; the logits of `batch.logitsRows` (rank 0's). */
  async forward(batch: ForwardBatch, kv: KvCacheTensors): Promise<Float32Array> {
    const broken = this.failed ?? this.followers.failure();
    if (broken) throw new TpGroupError(`tensor-parallel group is down: ${broken.message}`);
    // A bad batch is the caller's bug, not a broken group: refuse it before any rank sees it.
    this.rank0.checkInputs(batch, kv);
    for (const r of batch.logitsRows)
      if (r < 0 || r >= batch.tokenIds.length)
        throw new RangeError(`logits row ${r} is outside the batch (${batch.tokenIds.length} rows)`);
    this.followers.step(batch);
    try {
      return await this.rank0.forward(batch, kv);
    } catch (err) {
      this.failed = this.followers.failure() ?? (err as Error);
      this.rank0.comm.abort(String(err));
      throw new TpGroupError(`tensor-parallel step failed: ${this.failed.message}`);
    }
  }

  /** Rank 0's all-reduce counters (every rank moves the same payload). */
  commStats(): AllReduceStats {
    return { ...this.rank0.comm.stats };
  }

  async close(): Promise<void> {
    await this.followers.close();
    await this.rank0.close();
  }
}

async function startThreads(o: TpGroupOptions, timeoutMs: number): Promise<TensorParallelGroup> {
  const memory = createSharedAllReduceMemory(o.size);
  const workers: Worker[] = [];
  let failure: Error | null = null;
  const comm = new SharedMemoryAllReduce(memory, 0, o.size, timeoutMs);
  const onFailure = (rank: number, why: string): void => {
    failure ??= new TpGroupError(`tensor-parallel rank ${rank} (thread) failed: ${why}`);
    comm.abort(why);
  };
  let stopping = false;
  const ready: Promise<void>[] = [];
  for (let rank = 1; rank < o.size; rank++) {
    const data: RankThreadData = {
      dir: o.dir,
      rank,
      size: o.size,
      memory,
      timeoutMs,
      kernelOptions: o.kernelOptions ?? {},
    };
    const worker = new Worker(rankThreadEntry(), { workerData: data, execArgv: [] });
    workers.push(worker);
    ready.push(
      new Promise<void>((resolve, reject) => {
        worker.on('message', (m: { ready?: true; error?: string }) => {
          if (m.ready) resolve();
          if (m.error) {
            onFailure(rank, m.error);
            reject(failure);
          }
        });
        worker.on('error', (err) => {
          onFailure(rank, err.message);
          reject(failure);
        });
        worker.on('exit', (code) => {
          if (!stopping) onFailure(rank, `thread exited (code ${code})`);
          reject(failure);
        });
      }),
    );
  }
  try {
    const [model] = await Promise.all([TpRankModel.load(o.dir, 0, comm, o.kernelOptions), ...ready]);
    for (const w of workers) w.unref();
    const followers: Followers = {
      init: (numBlocks, blockSize) => post(workers, { init: { numBlocks, blockSize } }),
      step: (batch) => post(workers, { step: batch }),
      failure: () => failure,
      close: async () => {
        stopping = true;
        await Promise.all(workers.map((w) => w.terminate()));
      },
    };
    return new TensorParallelGroup(model as TpRankModel, followers, 'threads');
  } catch (err) {
    stopping = true;
    await Promise.all(workers.map((w) => w.terminate()));
    throw err;
  }
}

function post(workers: Worker[], m: RankThreadMessage): void {
  for (const w of workers) w.postMessage(m);
}

function rankThreadEntry(): URL {
  return import.meta.url.endsWith('.ts')
    ? new URL('./rank-thread-bootstrap.mjs', import.meta.url)
    : new URL('./rank-thread.js', import.meta.url);
}

/** Rank 0's side of a ring: control frames go to rank 1, which passes them on before computing. */
function ringFollowers(ring: Ring): Followers {
  let failure: Error | null = null;
  const guard = (f: () => void): void => {
    try {
      f();
    } catch (err) {
      failure ??= err as Error;
      throw err;
    }
  };
  return {
    init: (numBlocks, blockSize) =>
      guard(() => ring.next.send(FRAME.INIT, Buffer.from(JSON.stringify({ numBlocks, blockSize })))),
    step: (batch) => guard(() => ring.next.send(FRAME.STEP, encodeBatch(batch))),
    failure: () => failure,
    close: async () => {
      try {
        ring.next.send(FRAME.STOP, Buffer.alloc(0));
      } catch {
        // already down: nothing to tell
      }
      ring.close();
    },
  };
}
