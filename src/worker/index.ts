/** Public API of the worker component: one backend instance hosting an engine. */

export {
  AgentKvConnector,
  HeldKvExpiredError,
  KV_REGION,
} from './agent-kv-connector.ts';
export { Canary, type CanaryOptions, type CanaryResult } from './canary.ts';
export { SNAPSHOT_CHUNK_EVENTS, workerEndpoints } from './endpoints.ts';
export { EXIT_LEASE_LOST, WorkerError, WorkerRequestError } from './errors.ts';
export { fallbackReason } from './kv-transfer-events.ts';
export { type KvTransferPart, kvRegionOf, transportsFor } from './kv-transfer-part.ts';
export { buildInstanceInfo, buildModelCard, type ModelCardInput, Registration } from './registration.ts';
export { VllmKvRelay, zmqAddress } from './vllm-kv-events/vllm-kv-relay.ts';
export { Worker, type WorkerExit } from './worker.ts';
export {
  createWorkerEngine,
  specModelDir,
  type WorkerEngineKind,
  type WorkerEngineSpec,
} from './worker-engine.ts';
export { describeHealth, type WorkerHealth, WorkerPhase, type WorkerState } from './worker-health.ts';
export { WorkerMetrics, type WorkerRequestStatus } from './worker-metrics.ts';
export {
  KV_TRANSFER_MODES,
  type KvTransferMode,
  MODEL_CARD_STORE_KINDS,
  type ModelCardStoreKind,
  WORKER_DEFAULTS,
  WORKER_ROLES,
  type WorkerKvTransferOptions,
  type WorkerOptions,
  type WorkerRole,
  type WorkerRuntime,
} from './worker-options.ts';
