/**
 * What one engine step looks like from outside: the per-step trace event (`dhw generate --trace`, metrics)
 * and the load metrics a worker publishes to the router, both read off the scheduler and KV manager.
 *
 * Like /proc counters of a kernel's run queue: computed from the live state on demand, never stored.
 */
import type { KvCacheManager } from '../kv/index.ts';
import type { WorkerId } from '../protocols/ids.ts';
import type { LoadMetrics } from '../protocols/kv-events.ts';
import type { Scheduler, SchedulerOutput } from './scheduler.ts';

/** One engine step as seen by a tracer (`dhw generate --trace`, metrics). */
export interface StepEvent {
  step: number;
  /** Time the step took on the engine's clock (wall time, or simulated time in the mocker). */
  stepMs: number;
  /** Tokens in the forward pass. */
  numTokens: number;
  /** Of which new prompt tokens (prefill chunks). */
  numPrefillTokens: number;
  /** Sequences in the batch. */
  numSeqs: number;
  numPreempted: number;
  numFinished: number;
  numWaiting: number;
  numRunning: number;
  kvBlocksInUse: number;
  kvBytesInUse: number;
  kvTotalBlocks: number;
  /** Tokens per KV block and bytes per block: a sequence of n tokens holds ceil(n / blockSize) blocks. */
  kvBlockSize: number;
  kvBytesPerBlock: number;
}

export type StepListener = (event: StepEvent) => void;

/** The trace event of step `step` (which took `stepMs` on the engine's clock and finished `numFinished`). */
export function stepEvent(
  step: number,
  stepMs: number,
  output: SchedulerOutput,
  numFinished: number,
  scheduler: Scheduler,
  kv: KvCacheManager,
  kvBytesPerBlock: number,
): StepEvent {
  const kvBlocksInUse = kv.numActiveBlocks();
  return {
    step,
    stepMs,
    numTokens: output.numBatchedTokens,
    numPrefillTokens: output.numPrefillTokens,
    numSeqs: output.scheduled.length,
    numPreempted: output.preempted.length,
    numFinished,
    numWaiting: scheduler.waiting.length,
    numRunning: scheduler.running.length,
    kvBlocksInUse,
    kvBytesInUse: kvBlocksInUse * kvBytesPerBlock,
    kvTotalBlocks: kv.numBlocks,
    kvBlockSize: kv.blockSize,
    kvBytesPerBlock,
  };
}

/** A worker's load as the router's cost function reads it (protocols/kv-events.ts). */
export function engineLoadMetrics(scheduler: Scheduler, kv: KvCacheManager, workerId: WorkerId): LoadMetrics {
  const kvUsedBlocks = kv.numActiveBlocks();
  let activeDecodeBlocks = 0;
  let activePrefillTokens = 0;
  for (const seq of scheduler.running) {
    if (seq.isDecoding) {
      activeDecodeBlocks += kv.getBlockTable(seq.requestId).length;
    } else {
      activePrefillTokens += seq.numUncomputedTokens;
    }
  }
  for (const seq of scheduler.waiting) activePrefillTokens += seq.numUncomputedTokens;
  activePrefillTokens += scheduler.loading.length; // each computes its last prompt token here
  return {
    workerId,
    activeDecodeBlocks,
    activePrefillTokens,
    kvUsedBlocks,
    kvTotalBlocks: kv.numBlocks,
    numWaiting: scheduler.waiting.length + scheduler.loading.length,
    numRunning: scheduler.running.length,
    gpuCacheUsagePerc: Math.min(1, kvUsedBlocks / kv.numBlocks),
  };
}
