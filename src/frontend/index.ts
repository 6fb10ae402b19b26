export { AdmissionQueue, type AdmissionOptions, DEFAULT_MAX_QUEUED_REQUESTS } from './admission.ts';
export { allowedOrigin, applyCors, type CorsOptions, parseAllowedOrigins } from './cors.ts';
export { EventFeed, type EventFeedStats, KvSnapshotError } from './event-feed.ts';
export {
  type FrontendHandle,
  type FrontendOptions,
  type FrontendRuntime,
  startFrontend,
} from './frontend.ts';
export { allWorkersBusy, HttpError, noWorkersAvailable } from './http-errors.ts';
export {
  DEFAULT_REQUEST_TIMEOUT_MS,
  type HttpServerHandle,
  type HttpServerOptions,
  type RegistrySource,
  type SingleModelSource,
  startHttpServer,
} from './http-server.ts';
export { ModelCardFiles, type ModelCardFilesOptions } from './model-card-files.ts';
export {
  type DeploymentOptions,
  type DeploymentRouterFlags,
  loadCardTokenizer,
  ModelCardLoadError,
  ModelDeployment,
} from './model-deployment.ts';
export { ModelWatcher, type ModelWatcherOptions } from './model-watcher.ts';
export { chatPromptIds, chatPromptText, completionPromptIds, resolveMaxTokens } from './preprocessor.ts';
export { checkPromptBytes, maxBytesPerToken } from './prompt-bound.ts';
export { DEFAULT_OFF_THREAD_BYTES, PromptEncoder, type PromptEncoderOptions } from './prompt-encoder.ts';
export { TokenizePool } from './tokenize-pool.ts';
export type { RequestCounts } from './request-stats.ts';
export { RequestBlockHashes } from './request-block-hashes.ts';
export {
  continuation,
  MalformedWorkerOutputError,
  RoutedEngine,
  type RoutedEngineOptions,
} from './routed-engine.ts';
export {
  type InstanceSummary,
  type ModelRegistry,
  type ServedModel,
  StaticModelRegistry,
} from './served-model.ts';
export { SERVER_LIMIT_DEFAULTS, type ServerLimits } from './server-limits.ts';
export { SseWriter } from './sse.ts';
export { type StopMatch, StopStringMatcher } from './stop-strings.ts';
export { streamText, type TextStreamEvent } from './text-stream.ts';
