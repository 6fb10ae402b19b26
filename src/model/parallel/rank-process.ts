/**
 * A tensor-parallel rank as a process (`dhw tp-rank`): joins the ring, loads its shard, then replays rank
 * 0's steps until rank 0 says STOP or its link closes. Control frames (INIT, STEP, STOP) arrive from the
 * previous rank and are passed to the next one (unless that is rank 0) before this rank computes, so the
 * whole group sees the same command stream in the same order, ahead of the layers' DATA frames.
 */
import { loadModelConfig } from '../checkpoint/config.ts';
import type { KvCacheTensors } from '../forward-batch.ts';
import type { KernelOptions } from '../kernels/index.ts';
import { TpGroupError } from './all-reduce.ts';
import { decodeBatch } from './batch-wire.ts';
import { FRAME } from './framed-socket.ts';
import { openRing, type PeerAddress, TcpRingAllReduce } from './tcp-ring.ts';
import { TpRankModel } from './tp-forward.ts';
import { DEFAULT_TP_TIMEOUT_MS, modelFingerprint } from './tp-group.ts';
import { checkTensorParallelSize } from './tp-plan.ts';

export interface TcpRankOptions {
  dir: string;
  rank: number;
  peers: PeerAddress[];
  bindHost?: string;
  timeoutMs?: number;
  kernelOptions?: KernelOptions;
  /** Called once the ring is up and the shard loaded. */
  onReady?: () => void;
}

/** Serves one rank until rank 0 stops the group; rejects (TpGroupError) when a link fails. */
export async function runTcpRank(o: TcpRankOptions): Promise<{ steps: number }> {
  const size = o.peers.length;
  if (o.rank < 1 || o.rank >= size)
    throw new TpGroupError(
      `--tp-rank must be 1..${size - 1} for ${size} peers (rank 0 is the worker itself)`,
    );
  const config = loadModelConfig(o.dir);
  checkTensorParallelSize(config, size);
  const ring = await openRing({
    rank: o.rank,
    peers: o.peers,
    bindHost: o.bindHost,
    timeoutMs: o.timeoutMs ?? DEFAULT_TP_TIMEOUT_MS,
    fingerprint: modelFingerprint(config),
  });
  const comm = new TcpRingAllReduce(ring);
  const model = await TpRankModel.load(o.dir, o.rank, comm, o.kernelOptions);
  o.onReady?.();
  const passOn = o.rank + 1 < size;
  let kv: KvCacheTensors | null = null;
  let steps = 0;
  try {
    for (;;) {
      const frame = await ring.prev.read(0); // idle between requests: no deadline
      if (passOn) ring.next.send(frame.type, frame.payload);
      if (frame.type === FRAME.STOP) return { steps };
      if (frame.type === FRAME.INIT) {
        const { numBlocks, blockSize } = JSON.parse(frame.payload.toString()) as Record<string, number>;
        kv = model.allocateKvCache(numBlocks!, blockSize!);
      } else if (frame.type === FRAME.STEP) {
        if (!kv) throw new TpGroupError(`rank ${o.rank}: a step came before the KV cache was sized`);
        await model.forward(decodeBatch(frame.payload), kv);
        steps++;
      } else throw new TpGroupError(`rank ${o.rank}: unexpected frame type ${frame.type} between steps`);
    }
  } finally {
    await model.close();
  }
}
