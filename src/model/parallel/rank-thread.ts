/**
 * A tensor-parallel rank as a worker thread (ranks 1..N−1 of a 'threads' group; rank 0 is the engine's
 * own thread). It loads its shard, then serves the group's messages in order:
 *   {init: numBlocks, blockSize}  allocate its KV cache shard
 *   {step: ForwardBatch}          run the rank's forward (the all-reduces sync it with the others)
 * A failure aborts the shared all-reduce (so no rank waits for it) and is reported to rank 0.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { ForwardBatch, KvCacheTensors } from '../forward-batch.ts';
import type { KernelOptions } from '../kernels/index.ts';
import { SharedMemoryAllReduce, type SharedAllReduceMemory } from './all-reduce.ts';
import { TpRankModel } from './tp-forward.ts';

export interface RankThreadData {
  dir: string;
  rank: number;
  size: number;
  memory: SharedAllReduceMemory;
  timeoutMs: number;
  kernelOptions: KernelOptions;
}

export type RankThreadMessage =
  | { init: { numBlocks: number; blockSize: number } }
  | { step: ForwardBatch }
  | { stop: true };

const data = workerData as RankThreadData;
const port = parentPort!;
const comm = new SharedMemoryAllReduce(data.memory, data.rank, data.size, data.timeoutMs);

try {
  const model = await TpRankModel.load(data.dir, data.rank, comm, data.kernelOptions);
  let kv: KvCacheTensors | null = null;
  port.on('message', (m: RankThreadMessage) => {
    try {
      if ('init' in m) kv = model.allocateKvCache(m.init.numBlocks, m.init.blockSize);
      else if ('step' in m) {
        if (!kv) throw new Error('step before init');
        // Synchronous in effect: the shared-memory all-reduce resolves before the next message is read.
        model.forward(m.step, kv).catch((err) => fail(err));
      } else if ('stop' in m) {
        void model.close().then(() => process.exit(0));
      }
    } catch (err) {
      fail(err);
    }
  });
  port.postMessage({ ready: true });
} catch (err) {
  fail(err);
}

function fail(err: unknown): void {
  comm.abort(String(err));
  port.postMessage({ error: err instanceof Error ? err.message : String(err) });
}
