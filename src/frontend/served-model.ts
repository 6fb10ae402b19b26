/**
 * What the HTTP server serves: a set of models, each an engine plus the tokenizer that turns text into
 * its token ids. Like an nginx `upstream` table keyed by host name: the server looks the request's
 * `model` up here and hands the request to that model's engine. Two implementations:
 *
 *   StaticModelRegistry   one engine given at start (tests with a scripted engine, tools)
 *   ModelWatcher          models discovered from workers' model cards (model-watcher.ts)
 */
import { basename } from 'node:path';
import type { InferenceEngine } from '../protocols/engine.ts';
import type { LoadMetrics } from '../protocols/kv-events.ts';
import type { Tokenizer } from '../tokens/index.ts';

export interface ServedModel {
  /** The name clients send and see in responses. */
  name: string;
  /** Other names a request may use (the model folder's name). */
  aliases: readonly string[];
  engine: InferenceEngine;
  tokenizer: Tokenizer;
  /** End-of-sequence ids: the engine's (config / generation_config) merged with the tokenizer's. */
  eosTokenIds: readonly number[];
  /** Unix seconds when this model appeared (`created` in GET /v1/models). */
  created: number;
}

/** One worker as GET /health lists it. */
export interface InstanceSummary {
  id: string;
  address: string;
  model: string;
}

/** One worker as the dashboard shows it: its discovery entry, the router's view of its health and its last load report. */
export interface WorkerStatus extends InstanceSummary {
  role: 'aggregated' | 'prefill';
  /** Skipped after a failed request (passive health check). */
  quarantined: boolean;
  /** Its last load report is at or past the busy threshold. */
  busy: boolean;
  load: LoadMetrics | undefined;
}

export interface ModelRegistry {
  /** Served models, sorted by name. */
  list(): readonly ServedModel[];
  /** A model by its name or an alias; undefined when not served. */
  find(name: string): ServedModel | undefined;
  /** Every worker with its health and load (routed deployments only; the dashboard's worker table). */
  workerStatuses?(): WorkerStatus[];
  /** Workers behind the models (empty for a static registry). */
  instances(): InstanceSummary[];
  /** Prefill workers of disaggregated models (absent or empty when there are none). */
  prefillInstances?(): InstanceSummary[];
  /** Models workers registered that this server cannot load, with the reason (shown in 503s). */
  unservable?(): { model: string; reason: string }[];
}

export function mergeEosIds(...lists: (readonly number[] | undefined)[]): number[] {
  return [...new Set(lists.flatMap((l) => l ?? []))];
}

/** One engine in this process, served under one name (plus the model folder's name). */
export class StaticModelRegistry implements ModelRegistry {
  private readonly model: ServedModel;

  constructor(options: {
    engine: InferenceEngine;
    tokenizer: Tokenizer;
    modelName: string;
    modelDir?: string;
  }) {
    const aliases = options.modelDir && basename(options.modelDir) !== options.modelName;
    this.model = {
      name: options.modelName,
      aliases: aliases ? [basename(options.modelDir as string)] : [],
      engine: options.engine,
      tokenizer: options.tokenizer,
      eosTokenIds: mergeEosIds(options.engine.info.eosTokenIds, options.tokenizer.eosTokenIds),
      created: Math.floor(Date.now() / 1000),
    };
  }

  list(): readonly ServedModel[] {
    return [this.model];
  }

  find(name: string): ServedModel | undefined {
    return name === this.model.name || this.model.aliases.includes(name) ? this.model : undefined;
  }

  instances(): InstanceSummary[] {
    return [];
  }
}
