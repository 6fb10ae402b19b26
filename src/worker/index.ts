/** Public API of the worker component: one backend instance hosting an engine. */
export { Canary, type CanaryOptions, type CanaryResult } from './canary.ts';
export {
  GENERATE_ENDPOINT,
  KV_SNAPSHOT_ENDPOINT,
  LOAD_ENDPOINT,
  SNAPSHOT_CHUNK_EVENTS,
  workerEndpoints,
} from './endpoints.ts';
export { EXIT_LEASE_LOST, WorkerError, WorkerRequestError } from './errors.ts';
export { buildInstanceInfo, buildModelCard, type ModelCardInput, Registration } from './registration.ts';
export { Worker, type WorkerExit, type WorkerHealth, type WorkerState } from './worker.ts';
export {
  createWorkerEngine,
  specModelDir,
  type WorkerEngineKind,
  type WorkerEngineSpec,
} from './worker-engine.ts';
export { WorkerMetrics, type WorkerRequestStatus } from './worker-metrics.ts';
export { WORKER_DEFAULTS, type WorkerOptions, type WorkerRuntime } from './worker-options.ts';
