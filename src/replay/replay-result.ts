/**
 * What one replay returns, whichever simulator ran it (`replay-run.ts` exact, `fast-run.ts` fast).
 */
import type { CacheCeiling } from './cache-ceiling.ts';
import type { TtftBoundReport } from './ttft-bound.ts';
import type { ResolvedReplayOptions } from './replay-options.ts';
import type { RequestRecord } from './request-flow.ts';
import type { WorkerRecord } from './sim-workers.ts';

export interface ReplayResult {
  policy: string;
  options: ResolvedReplayOptions;
  records: RequestRecord[];
  /** Every gap between consecutive tokens of a request, pooled over requests (ms). */
  itlsMs: number[];
  /**
   * Fast simulator only: `itlsMs[i]` happened `itlCounts[i]` times (a decode run's equal gaps are kept once
   * with their count; `weightedLatencySummary`). Absent: each gap once.
   */
  itlCounts?: number[];
  /** Every worker (disaggregated: prefill workers first, then decode). */
  workers: WorkerRecord[];
  /** Simulated time from the first arrival to the last token. */
  simulatedMs: number;
  /** Real time the replay took. */
  wallMs: number;
  /**
   * The trace's hit-rate ceiling: one node with the whole cluster's KV (workers × numKvBlocks), LRU, and an
   * infinite cache (`cache-ceiling.ts`). The same for every policy; not counted in `wallMs`.
   */
  ceiling?: CacheCeiling;
  /**
   * The least mean TTFT any router could reach on this trace and cluster (`ttft-bound.ts`); aggregated
   * timestamp replays only. The same for every policy; not counted in `wallMs`.
   */
  ttftBound?: TtftBoundReport;
}
