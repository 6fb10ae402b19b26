/**
 * What a Worker is told at start: which engine, which names, how to reach discovery and the event plane,
 * where to listen. Defaults follow Dynamo (namespace "dynamo", component "backend", endpoint "generate").
 */
import type { ModelType } from '../protocols/discovery.ts';
import type { Discovery, DiscoveryOptions } from '../runtime/discovery/index.ts';
import type { CreateEventBusOptions, EventBus } from '../runtime/events/index.ts';
import type { RequestPlane } from '../runtime/request-plane/index.ts';
import type { ClusterSecret } from '../util/cluster-secret.ts';
import type { LinkSpec } from '../util/link-spec.ts';
import type { WorkerEngineSpec } from './worker-engine.ts';

/**
 * What a worker does in a deployment (docs/design-notes.md#disaggregation):
 *   aggregated  prefill and decode on the same worker (the default; no transfer agent unless asked)
 *   prefill     computes prompts for decode workers, registers under component "prefill" with model type
 *               'prefill', keeps each finished prompt's KV blocks until a decode worker pulled them
 *   decode      the normal "backend" worker plus a transfer agent that pulls prompts' KV from prefill workers
 */
export type WorkerRole = 'prefill' | 'decode' | 'aggregated';
export const WORKER_ROLES: readonly WorkerRole[] = ['prefill', 'decode', 'aggregated'];

/**
 * Which transports the worker's transfer agent listens on and dials with:
 *   auto    tcp + unix for prefill and decode workers, no agent for aggregated ones; same-host peers
 *           pick unix, then tcp
 *   tcp     TCP only (peers on other hosts);  unix: Unix sockets only (peers on this host)
 *   shm     tcp + unix + shared memory (no shm with a cluster secret): held blocks staged into /dev/shm,
 *           READ by preadv; same-host peers pick shm, then unix, then tcp
 *   memory  in-process copies only: workers that share one process (embedded `dhw serve`)
 *   none    no transfer agent (a decode worker then prefills every prompt itself)
 */
export type KvTransferMode = 'auto' | 'tcp' | 'unix' | 'shm' | 'memory' | 'none';
export const KV_TRANSFER_MODES: readonly KvTransferMode[] = ['auto', 'tcp', 'unix', 'shm', 'memory', 'none'];

export interface WorkerKvTransferOptions {
  /** Default 'auto'. */
  mode?: KvTransferMode;
  /** Prefill: how long a finished prompt's blocks wait for their pull before they are freed. Default 30 s. */
  holdTimeoutMs?: number;
  /** Decode: a pull slower than this fails and the prompt is prefilled locally. Default 10 s. */
  pullTimeoutMs?: number;
  /** Mocker only: the simulated link a pull is charged on (default 25 Gbit/s, 10 µs). */
  link?: LinkSpec;
}

export type ModelCardStoreKind = 'nats' | 'model-dir';
export const MODEL_CARD_STORE_KINDS: readonly ModelCardStoreKind[] = ['nats', 'model-dir'];

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
  role: 'aggregated',
  prefillComponent: 'prefill',
  kvHoldTimeoutMs: 30_000,
  kvPullTimeoutMs: 10_000,
  kvLink: '25gbit,10us',
  requestPlaneUnix: true,
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
  /** Default: 'prefill' for role prefill, else 'chat' if the model has a chat template, else 'completions'. */
  modelType?: ModelType;
  /** Default "dynamo". */
  namespace?: string;
  /** Default 'aggregated'. */
  role?: WorkerRole;
  /** The transfer agent (KV transfer between prefill and decode workers). */
  kvTransfer?: WorkerKvTransferOptions;
  /** Default "backend" ("prefill" for role prefill). */
  component?: string;
  /** Name of the generate endpoint in discovery (default "generate"). */
  endpoint?: string;
  /** How to reach discovery when `runtime.discovery` is not given (default: etcd at $ETCD_ENDPOINTS). */
  discovery?: DiscoveryOptions;
  /** How to reach the event plane when `runtime.eventBus` is not given (default: NATS at $NATS_SERVER). */
  events?: Omit<CreateEventBusOptions, 'publisherId'>;
  /**
   * --model-card-store: where the model card's tokenizer files travel (docs/model-cards.md).
   *   nats       uploaded to NATS's object store (at `events.natsServer`); frontends anywhere fetch them
   *   model-dir  the card names the model folder's path (frontends on this machine or a shared filesystem)
   * Default: 'nats' when the worker connects to etcd and NATS itself, else 'model-dir' (embedded
   * `dhw serve`, `--discovery file`, `--events memory`, or an event bus passed in through `runtime`).
   */
  modelCardStore?: ModelCardStoreKind;
  runtime?: WorkerRuntime;
  /**
   * Bind address of the request plane (TCP; ignored with runtime.requestPlane), the status server and the
   * transfer agent's TCP data listener. Default 127.0.0.1.
   */
  host?: string;
  /**
   * The host published in discovery (the request-plane address and the transfer agent's TCP endpoint): what
   * workers and frontends on other nodes dial. Default: `host`; required when `host` is 0.0.0.0 or ::.
   */
  advertiseHost?: string;
  port?: number;
  /**
   * Also serve the request plane on a Unix-domain socket in the temp folder, advertised beside the TCP
   * address; frontends on this host dial it instead (runtime/request-plane/dial-address.ts). Default true.
   */
  requestPlaneUnix?: boolean;
  /** Status server port (/health, /live, /metrics): 0 = free port, null = none. Listens on `host`. */
  systemPort?: number | null;
  /** Idle canary period; 0 = startup canary only. Default 10 s. */
  canaryIntervalMs?: number;
  canaryTimeoutMs?: number;
  /** Load metrics publish period (publishes only on change). Default 100 ms. */
  loadIntervalMs?: number;
  /** How long a graceful stop lets in-flight requests finish. Default 10 s. */
  drainMs?: number;
  /**
   * --cluster-secret-file: callers of the request plane and peers of the transfer agent must prove this
   * secret at connection setup (util/cluster-secret.ts). Default: none (anyone who reaches the port).
   */
  clusterSecret?: ClusterSecret;
  /**
   * On a lost discovery lease, stop and exit (Dynamo's behaviour, for a supervisor that restarts the
   * process) instead of re-registering under a new lease once discovery answers. Default false.
   */
  exitOnLeaseLoss?: boolean;
  /**
   * --kv-events zmq://HOST:PORT (+ --kv-events-replay): the KV events routers see come from a vLLM engine's
   * ZeroMQ publisher (translated to our block hashes, vllm-kv-events/) instead of this worker's engine.
   * Default: the engine's own cache.
   */
  kvEvents?: { endpoint: string; replayEndpoint?: string };
}
