/**
 * What a Worker is told at start: which engine, which names, how to reach discovery and the event plane,
 * where to listen. Defaults follow Dynamo (namespace "dynamo", component "backend", endpoint "generate").
 */
import type { ModelType } from '../protocols/discovery.ts';
import type { Discovery, DiscoveryOptions } from '../runtime/discovery/index.ts';
import type { CreateEventBusOptions, EventBus } from '../runtime/events/index.ts';
import type { RequestPlane } from '../runtime/request-plane/index.ts';
import type { WorkerEngineSpec } from './worker-engine.ts';

export const WORKER_DEFAULTS = {
  component: 'backend',
  endpoint: 'generate',
  host: '127.0.0.1',
  port: 0,
  systemPort: 0,
  canaryIntervalMs: 10_000,
  canaryTimeoutMs: 5_000,
  loadIntervalMs: 100,
  drainMs: 10_000,
} as const;

/** Already-connected pieces to use instead of creating them (embedded mode). The caller keeps ownership. */
export interface WorkerRuntime {
  /** Its lease id becomes this worker's instance id: give each worker its own client. */
  discovery?: Discovery;
  eventBus?: EventBus;
  /** e.g. a shared InMemoryRequestPlane, so an in-process frontend can call this worker. */
  requestPlane?: RequestPlane;
}

export interface WorkerOptions {
  engine: WorkerEngineSpec;
  /** Model name clients send (default: the engine's model name, i.e. the model folder's name). */
  servedModelName?: string;
  /** Default: 'chat' if the model has a chat template, else 'completions'. */
  modelType?: ModelType;
  /** Default "dynamo". */
  namespace?: string;
  /** Default "backend". */
  component?: string;
  /** Name of the generate endpoint in discovery (default "generate"). */
  endpoint?: string;
  /** How to reach discovery when `runtime.discovery` is not given (default: etcd at $ETCD_ENDPOINTS). */
  discovery?: DiscoveryOptions;
  /** How to reach the event plane when `runtime.eventBus` is not given (default: NATS at $NATS_SERVER). */
  events?: Omit<CreateEventBusOptions, 'publisherId'>;
  runtime?: WorkerRuntime;
  /** Request-plane listen address (TCP; ignored with runtime.requestPlane). Default 127.0.0.1:0. */
  host?: string;
  port?: number;
  /** Status server port (/health, /live, /metrics): 0 = free port, null = none. Listens on `host`. */
  systemPort?: number | null;
  /** Idle canary period; 0 = startup canary only. Default 10 s. */
  canaryIntervalMs?: number;
  canaryTimeoutMs?: number;
  /** Load metrics publish period (publishes only on change). Default 100 ms. */
  loadIntervalMs?: number;
  /** How long a graceful stop lets in-flight requests finish. Default 10 s. */
  drainMs?: number;
}
