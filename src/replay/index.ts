export { ReplayConfigError, ReplayStuckError, TraceFormatError, TraceNotFoundError } from './errors.ts';
export {
  DEFAULT_SLO,
  e2eOf,
  type LatencySummary,
  latencySummary,
  type ReplayMetrics,
  type Slo,
  summarizeReplay,
  tpotOf,
  ttftOf,
  type WorkerMetrics,
} from './metrics.ts';
export { cdfPoints, hitRateOverTime, logTicks, renderReplayChart } from './plot.ts';
export {
  REPLAY_DEFAULTS,
  type ReplayOptions,
  type ReplayResult,
  type RequestRecord,
  runReplay,
  type WorkerRecord,
} from './replay-run.ts';
export { formatReplayTable, sloNote } from './report.ts';
export {
  MOONCAKE_BLOCK_SIZE,
  type ParseTraceOptions,
  parseTrace,
  readTrace,
  type TraceRecord,
} from './trace.ts';
export { TraceBlockHasher, traceToken, traceTokenIds } from './trace-tokens.ts';
export { type LoopRun, VirtualTimeLoop } from './virtual-time-loop.ts';
