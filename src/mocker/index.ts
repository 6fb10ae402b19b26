export { MOCKER_DEFAULTS, MockEngine, type MockEngineOptions } from './mock-engine.ts';
export { fnv1a, MockExecutor, type MockExecutorOptions, pseudoToken } from './mock-executor.ts';
export { decodeMs, prefillMs, type StepShape, simulatedStepMs, sleepMsFor } from './timing-model.ts';
export {
  KvLoadAbortedError,
  layerwiseExposedMs,
  layerwiseFinishMs,
  type PrefillOverlap,
  SimulatedKvConnector,
  type SimulatedKvConnectorOptions,
} from './simulated-kv-connector.ts';
