export { type Clock, realClock, VirtualClock } from './clock.ts';
export { EngineCore, type EngineCoreOptions, type StepEvent, type StepListener } from './engine-core.ts';
export {
  DEFAULT_KV_CACHE_MEMORY_BYTES,
  type KvSizingOptions,
  kvBytesPerBlock,
  numKvBlocksFor,
} from './kv-sizing.ts';
export { ENGINE_DEFAULTS, type EngineOptions, LlmEngine } from './llm-engine.ts';
export { GuidedDecoder, type TokenConstraint } from './guided-decoding.ts';
export type {
  KvConnector,
  KvHoldStager,
  KvLayerPusher,
  KvLoadPlan,
  KvLoadResult,
  KvReceivePlan,
} from './kv-connector.ts';
export { DEFAULT_KV_HOLD_TIMEOUT_MS, KvHoldLedger, type KvHoldLedgerOptions } from './kv-holds.ts';
export type { KvLoadFailureReason, KvTransferEvent, KvTransferListener } from './kv-transfer-events.ts';
export { RemoteKvLoader, RemoteKvLoadError, type RemoteSpan, remoteSpan } from './remote-prefill.ts';
export {
  type BlockTableLookup,
  buildForwardBatch,
  type ForwardFn,
  ModelRunner,
  type StepExecutor,
  sampleSequence,
} from './model-runner.ts';
export { RequestStream } from './request-stream.ts';
export { applyPenalties, rawLogprobs, type SampleInput, type SampleResult, sampleToken } from './sampler.ts';
export {
  type RemoteAdmission,
  type ScheduledSequence,
  Scheduler,
  type SchedulerKvCache,
  type SchedulerOptions,
  type SchedulerOutput,
} from './scheduler.ts';
export { Sequence, type SequenceInit, type SequenceStatus } from './sequence.ts';
export { createScratchEngine, TensorParallelRunner, TpLlmEngine } from './tp-engine.ts';
export { type LocalRanks, spawnLocalTpRanks } from './tp-local-ranks.ts';
export {
  PipelineExecutor,
  type PipelineExecutorOptions,
  PipelineStageError,
  type PipelineTraffic,
} from './pipeline/pipeline-executor.ts';
export { splitIntoMicroBatches } from './pipeline/micro-batches.ts';
export { PipelineStageServer, type StageServerOptions } from './pipeline/stage-server.ts';
export type { StageBusy, StageReport } from './pipeline/stage-wire.ts';
