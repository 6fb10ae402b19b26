export {
  type BenchResult,
  computeBenchResult,
  e2elOf,
  type GoodputSlo,
  itlsOf,
  METRIC_NAMES,
  meetsSlo,
  parseGoodput,
  type RequestResult,
  tpotOf,
  ttftOf,
} from './bench-metrics.ts';
export { formatCsv, formatResultBlock } from './bench-report.ts';
export { renderRunChart, renderSweepChart, throughputOverTime } from './bench-plot.ts';
export {
  BenchEndpointError,
  type BenchRun,
  type BenchSessionOptions,
  buildPrompts,
  fetchModels,
  parseSweep,
  type PromptSpec,
  runBenchSession,
  type SweepSpec,
} from './bench-session.ts';
export { type BenchApi, type BenchPrompt, OpenAiStreamClient } from './openai-stream-client.ts';
export { progressBar } from './progress-bar.ts';
export {
  jsonlPrompts,
  type ScheduledPrompt,
  syntheticPrompts,
  type TokenCounter,
  tracePrompts,
} from './prompt-sources.ts';
export { type ArrivalProcess, arrivalTimes, type LoadShape, runBench } from './run-bench.ts';
