/**
 * The public face shared by every engine built on EngineCore (the real LlmEngine and the mocker): the same
 * request stream, step trace, load metrics and KV cache access, whatever executes the steps underneath.
 * Like two backends behind one service interface: callers cannot tell them apart.
 */
import type { KvCacheManager } from '../kv/index.ts';
import type { EngineModelInfo, EngineOutput, EngineRequest, InferenceEngine } from '../protocols/engine.ts';
import type { LoadMetrics } from '../protocols/kv-events.ts';
import type { EngineCore, StepListener } from './engine-core.ts';

export abstract class CoreBackedEngine implements InferenceEngine {
  readonly info: EngineModelInfo;

  protected constructor(readonly core: EngineCore) {
    this.info = core.info;
  }

  /**
   * Stream one request's tokens. Validation errors (InvalidRequestError: empty or too-long prompt, unknown
   * token id, duplicate request id) are thrown on the first iteration. Breaking out of the loop or aborting
   * `signal` frees the request's KV blocks at once; after an abort the stream just ends.
   */
  generate(request: EngineRequest, signal?: AbortSignal): AsyncIterable<EngineOutput> {
    return this.core.generate(request, signal);
  }

  /** Subscribe to per-step traces; returns the unsubscribe function. */
  onStep(listener: StepListener): () => void {
    return this.core.onStep(listener);
  }

  loadMetrics(): LoadMetrics {
    return this.core.loadMetrics();
  }

  /** The KV cache manager (prefix-cache stats, event subscription, snapshot dump). */
  get kv(): KvCacheManager {
    return this.core.kv;
  }

  close(): Promise<void> {
    return this.core.close();
  }
}
