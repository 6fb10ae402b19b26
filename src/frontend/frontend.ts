/**
 * The distributed frontend (Dynamo's `dynamo.frontend`): the OpenAI HTTP server in front of a fleet of
 * workers it discovers at run time. Like nginx with a service-discovery module and a custom balancer:
 *
 *   discovery (etcd|file|memory) ─► ModelWatcher ─► ModelDeployment per model: tokenizer, Router (its workers)
 *   event plane (nats|memory)    ─► EventFeed    ─► router.applyKvEvent / applySnapshot / updateLoad
 *   HTTP ─► routes ─► RoutedEngine ─► request plane (tcp|memory) ─► worker `generate`
 *                          └─ RemotePrefill (prefill workers known) ─► prefill worker `generate`
 *
 * Everything it creates it closes; pieces passed in through `runtime` stay the caller's (embedded mode).
 */
import {
  checkDisaggOptions,
  createRouter,
  DEFAULT_ROUTER_POLICY,
  DISAGG_DEFAULTS,
  type DisaggPolicyOptions,
} from '../router/index.ts';
import { createDiscovery, type Discovery, type DiscoveryOptions } from '../runtime/discovery/index.ts';
import { type CreateEventBusOptions, createEventBus, type EventBus } from '../runtime/events/index.ts';
import { DEFAULT_NAMESPACE } from '../runtime/names.ts';
import { type RequestPlane, TcpRequestPlane } from '../runtime/request-plane/index.ts';
import type { ClusterSecret } from '../util/cluster-secret.ts';
import { getLogger } from '../util/logger.ts';
import type { ApiKeyOptions } from './api-key.ts';
import { EventFeed } from './event-feed.ts';
import { type HttpServerHandle, startHttpServer } from './http-server.ts';
import { FrontendMetrics } from './metrics.ts';
import { ModelCardFiles } from './model-card-files.ts';
import { type DeploymentRouterFlags, ModelDeployment } from './model-deployment.ts';
import { ModelWatcher } from './model-watcher.ts';
import { RouterReplicaSync } from './replica-sync.ts';
import type { PromptEncoderOptions } from './prompt-encoder.ts';
import type { RequestStats } from './request-stats.ts';
import type { KvHandOffMode } from '../protocols/kv-transfer.ts';

export interface FrontendRuntime {
  discovery?: Discovery;
  eventBus?: EventBus;
  requestPlane?: RequestPlane;
}

export interface FrontendOptions {
  /** Dynamo namespace whose workers to serve (default "dynamo"). */
  namespace?: string;
  /** How to reach discovery when `runtime.discovery` is not given (default etcd at $ETCD_ENDPOINTS). */
  discovery?: DiscoveryOptions;
  /** How to reach the event plane when `runtime.eventBus` is not given (default NATS at $NATS_SERVER). */
  events?: Omit<CreateEventBusOptions, 'publisherId'>;
  /** Already-connected pieces (embedded mode, tests); the caller keeps ownership. */
  runtime?: FrontendRuntime;
  /** --router, --kv-overlap-score-weight, --router-temperature, --router-decision-log, seed. */
  router?: DeploymentRouterFlags;
  /**
   * --router-replica-sync: share each router's in-flight requests with the other frontends over the event
   * plane, so several frontends do not pile onto one worker (default: on when events are NATS).
   */
  routerReplicaSync?: boolean;
  /**
   * --router-kv-replay: how a router learns a worker's cache when it first meets it: 'snapshot' (default:
   * ask the worker for a dump, tail events from now) or 'start' (replay the whole durable KV-event log).
   */
  kvReplay?: 'snapshot' | 'start';
  /** --migration-limit: mid-stream worker failures one request may survive (default 0). */
  migrationLimit?: number;
  /**
   * KV usage (0..1) at which a worker counts as busy, by its load report or by the blocks the router sent
   * it; all busy → the request waits in the model's queue (default 0.95).
   */
  busyThreshold?: number;
  /**
   * Conditional disaggregation (used when a model has prefill workers): --max-local-prefill-length
   * (default 1000 uncached tokens) and --max-prefill-queue-size (default 2). Defaults: DISAGG_DEFAULTS.
   */
  disagg?: Partial<DisaggPolicyOptions>;
  /** How a remote prefill hands KV over (`--kv-transfer-mode`): whole (pull, default) or layerwise (push). */
  kvTransferMode?: KvHandOffMode;
  /**
   * Model cards whose files travel through NATS's object store (docs/model-cards.md): `cacheDir`
   * (--model-cache-dir, default `$TMPDIR/dhw-model-cards`) and the NATS URL to fetch from (default the
   * event plane's; null when this frontend has no NATS).
   */
  modelCards?: { cacheDir?: string; natsServer?: string | null };
  host?: string;
  port?: number;
  maxBodyBytes?: number;
  drainTimeoutMs?: number;
  /** --max-queued-requests: per model, requests that wait while every worker is busy (default 256). */
  maxQueuedRequests?: number;
  /** --request-timeout: one generation request's deadline, ms (default 10 min; 0 = none). */
  requestTimeoutMs?: number;
  /** --header-timeout, --body-timeout (ms) and --max-connections: the HTTP server's own limits. */
  headersTimeoutMs?: number;
  bodyTimeoutMs?: number;
  maxConnections?: number;
  /** --tokenizer-threads, --tokenizer-thread-min-bytes: where long prompts are tokenized. */
  tokenize?: PromptEncoderOptions;
  /** Browser origins allowed to call the API (CORS; `--allowed-origins`). Default none. */
  allowedOrigins?: readonly string[];
  /** --api-key / --public-paths: clients must send `Authorization: Bearer KEY` (api-key.ts). */
  auth?: ApiKeyOptions;
  /** --cluster-secret-file: proved to workers when the request plane connects (workers may require it). */
  clusterSecret?: ClusterSecret;
}

export interface FrontendHandle {
  url: string;
  port: number;
  stats: RequestStats;
  models: ModelWatcher;
  events: EventFeed;
  /** Router replica sync, when on (its stats count what peers sent and what was applied). */
  replicaSync: RouterReplicaSync | undefined;
  /** Stop accepting, drain in-flight requests, then release what the frontend created. */
  close(): Promise<void>;
}

const log = getLogger('frontend');

export async function startFrontend(options: FrontendOptions = {}): Promise<FrontendHandle> {
  const routerFlags: DeploymentRouterFlags = { router: DEFAULT_ROUTER_POLICY, ...options.router };
  await createRouter(routerFlags); // fail fast on an unknown policy or a broken policy file
  const disagg: DisaggPolicyOptions = { ...DISAGG_DEFAULTS, ...options.disagg };
  checkDisaggOptions(disagg);
  const metrics = new FrontendMetrics();
  const owned: (() => Promise<void>)[] = [];
  try {
    const discovery = options.runtime?.discovery ?? (await createDiscovery(options.discovery));
    if (!options.runtime?.discovery) owned.push(() => discovery.close());
    const bus = options.runtime?.eventBus ?? (await createEventBus(options.events ?? { backend: 'nats' }));
    if (!options.runtime?.eventBus) owned.push(() => bus.close());
    const plane =
      options.runtime?.requestPlane ?? new TcpRequestPlane({ clusterSecret: options.clusterSecret });
    if (!options.runtime?.requestPlane) owned.push(() => plane.close());

    const cardFiles = new ModelCardFiles({
      cacheDir: options.modelCards?.cacheDir,
      natsServer:
        options.modelCards?.natsServer !== undefined
          ? options.modelCards.natsServer
          : bus.backend === 'nats'
            ? options.events?.natsServer
            : null,
      natsSecurity: options.events?.natsSecurity,
      log,
    });
    owned.push(() => cardFiles.close());
    let models: ModelWatcher | undefined;
    const feed = new EventFeed({
      bus,
      plane,
      deploymentOf: (id) => models?.deploymentOf(id),
      kvReplay: options.kvReplay ?? 'snapshot',
      log,
    });
    owned.push(() => feed.close());
    const replicaSync =
      (options.routerReplicaSync ?? bus.backend === 'nats')
        ? new RouterReplicaSync({ bus, routerOf: (id) => models?.deploymentOf(id)?.routerOf(id), log })
        : undefined;
    if (replicaSync) owned.push(() => replicaSync.close());
    models = await ModelWatcher.start({
      discovery,
      namespace: options.namespace ?? DEFAULT_NAMESPACE,
      log,
      createDeployment: async (card) => {
        const deployment = await ModelDeployment.create({
          card,
          cardFiles,
          plane,
          router: routerFlags,
          migrationLimit: options.migrationLimit ?? 0,
          busyThreshold: options.busyThreshold,
          maxQueuedRequests: options.maxQueuedRequests,
          disagg,
          kvTransferMode: options.kvTransferMode,
          metrics,
          requestSnapshot: (deployment, workerId) => feed.requestSnapshot(deployment, workerId),
          log,
        });
        replicaSync?.attach(deployment.router);
        replicaSync?.attach(deployment.prefillRouter);
        return deployment;
      },
      onWorkerAdded: (deployment, workerId, { namespace, component }) => {
        void feed.workerAdded(deployment, workerId, { namespace, component });
        void replicaSync?.follow({ namespace, component }, workerId);
      },
    });
    const watcher = models;
    owned.push(() => watcher.close());
    const server: HttpServerHandle = await startHttpServer({
      models: watcher,
      host: options.host,
      port: options.port,
      maxBodyBytes: options.maxBodyBytes,
      drainTimeoutMs: options.drainTimeoutMs,
      requestTimeoutMs: options.requestTimeoutMs,
      headersTimeoutMs: options.headersTimeoutMs,
      bodyTimeoutMs: options.bodyTimeoutMs,
      maxConnections: options.maxConnections,
      tokenize: options.tokenize,
      allowedOrigins: options.allowedOrigins,
      metrics,
      ...options.auth,
    });
    log.info('frontend ready', {
      url: server.url,
      namespace: options.namespace ?? DEFAULT_NAMESPACE,
      router: routerFlags.router,
      migrationLimit: options.migrationLimit ?? 0,
      maxLocalPrefillLength: disagg.maxLocalPrefillLength,
      maxPrefillQueueSize: disagg.maxPrefillQueueSize,
      kvTransferMode: options.kvTransferMode ?? 'whole',
      discovery: discovery.backend,
      events: bus.backend,
      routerReplicaSync: replicaSync !== undefined,
      models: watcher.list().map((m) => m.name),
      modelCacheDir: cardFiles.cacheDir,
    });
    return {
      url: server.url,
      port: server.port,
      stats: server.stats,
      models: watcher,
      events: feed,
      replicaSync,
      close: async () => {
        await server.close();
        await releaseAll(owned);
      },
    };
  } catch (err) {
    await releaseAll(owned);
    throw err;
  }
}

/** Release in reverse order of creation; one failure does not stop the rest. */
async function releaseAll(owned: (() => Promise<void>)[]): Promise<void> {
  for (const release of owned.reverse()) {
    try {
      await release();
    } catch (err) {
      log.warn('shutdown step failed', { error: err });
    }
  }
}
