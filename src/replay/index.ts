export {
  type CacheCeiling,
  type CeilingOptions,
  cacheCeiling,
  requestHitBlocks,
  traceCeiling,
} from './cache-ceiling.ts';
export {
  type Distribution,
  distributionMean,
  formatDistribution,
  parseDistribution,
  sample,
  sampleCount,
} from './distributions.ts';
export { ReplayConfigError, ReplayStuckError, TraceFormatError, TraceNotFoundError } from './errors.ts';
export {
  DEFAULT_SLO,
  e2eOf,
  type DisaggMetrics,
  type LatencySummary,
  latencySummary,
  type ReplayMetrics,
  weightedLatencySummary,
  type Slo,
  summarizeReplay,
  tpotOf,
  ttftOf,
  type WorkerMetrics,
} from './metrics.ts';
export { cdfPoints, hitRateOverTime, logTicks, renderReplayChart } from './plot.ts';
export {
  DISAGG_REPLAY_DEFAULTS,
  DISAGG_RULES,
  type DisaggReplayConfig,
  KV_TRANSFER_MODES,
  type KvTransferMode,
  REPLAY_DEFAULTS,
  type ReplayOptions,
  type ResolvedReplayOptions,
  resolveReplayOptions,
  SIM_DEFAULT,
  SIM_MODES,
  type SimMode,
} from './replay-options.ts';
export { type ReplayResult, runReplay } from './replay-run.ts';
export type { RequestRecord } from './request-flow.ts';
export type { SimRole, WorkerRecord } from './sim-workers.ts';
export {
  MIXED_TRACE_DEFAULTS,
  type MixedTraceOptions,
  mixedTrace,
  SYNTHETIC_WORKLOADS,
} from './synthetic-trace.ts';
export { formatReplayTable, sloNote } from './report.ts';
export {
  type ArrivalProcess,
  describeSessionTrace,
  SESSION_TRACE_COMMON_DEFAULTS,
  SESSION_TRACE_KINDS,
  SESSION_TRACE_PRESETS,
  type SessionTraceKind,
  type SessionTraceOptions,
  sessionTrace,
  sessionTraceOptions,
} from './session-trace.ts';
export {
  formatTraceLine,
  MOONCAKE_BLOCK_SIZE,
  type ParseTraceOptions,
  parseTrace,
  readTrace,
  type TraceRecord,
} from './trace.ts';
export {
  formatSweepTable,
  loadOf,
  parseSweep,
  renderSweepChart,
  type SweepPoint,
  type SweepSpec,
} from './sweep.ts';
export { type ArrivalQueue, ClosedLoopArrivals, groupSessions, TimestampArrivals } from './closed-loop.ts';
export { TraceBlockHasher, traceToken, traceTokenIds } from './trace-tokens.ts';
export { type LoopRun, VirtualTimeLoop } from './virtual-time-loop.ts';
export {
  type TtftBound,
  type TtftBoundOptions,
  type TtftBoundReport,
  traceTtftBound,
  ttftLowerBound,
} from './ttft-bound.ts';
