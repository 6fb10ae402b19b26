/**
 * Brings up the pieces a Worker holds, in dependency order, like an init system starting a service's
 * sidecars before the service: discovery lease, event bus, engine, publishers, request plane, canary,
 * status port. Each piece registers its release on one CleanupStack the moment it is taken, so a failure
 * half-way releases exactly what was taken (no leaked lease, port or NATS connection), and a stop releases
 * everything newest first. Pieces passed in through `options.runtime` are the caller's: nothing is
 * registered for them, so nothing closes them. Each piece is complete when built: /health reads the
 * parts and a WorkerPhase that exists before them, not a Worker filled in later.
 */
import type { EngineCore } from '../engine/index.ts';
import { asWorkerId } from '../protocols/ids.ts';
import type { LoadMetrics } from '../protocols/kv-events.ts';
import { NatsCardStore } from '../runtime/card-store/index.ts';
import { createDiscovery, type Discovery } from '../runtime/discovery/index.ts';
import { createEventBus, type EventBus } from '../runtime/events/index.ts';
import type { EndpointId } from '../runtime/names.ts';
import { type ServeHandle, TcpRequestPlane } from '../runtime/request-plane/index.ts';
import { resolveAdvertiseHost } from '../util/advertise-host.ts';
import type { CleanupStack } from '../util/cleanup-stack.ts';
import { getLogger, type Logger } from '../util/logger.ts';
import { Canary } from './canary.ts';
import { workerEndpoints } from './endpoints.ts';
import { KvEventPublisher } from './kv-event-publisher.ts';
import { observeKvTransfers } from './kv-transfer-events.ts';
import { KvTransferMetrics } from './kv-transfer-metrics.ts';
import { type KvTransferPart, startKvTransferPart } from './kv-transfer-part.ts';
import { LoadPublisher } from './load-publisher.ts';
import { buildInstanceInfo, buildModelCard, Registration } from './registration.ts';
import { SystemServer } from './system-server.ts';
import {
  checkPipelineRole,
  createWorkerEngine,
  publishedStepTiming,
  simulatedKvSpec,
  specModelDir,
} from './worker-engine.ts';
import { describeHealth, type WorkerHealth, WorkerPhase } from './worker-health.ts';
import { VllmKvRelay } from './vllm-kv-events/vllm-kv-relay.ts';
import { WorkerMetrics } from './worker-metrics.ts';
import {
  type ModelCardStoreKind,
  WORKER_DEFAULTS,
  type WorkerOptions,
  type WorkerRole,
} from './worker-options.ts';

/** The pieces a running worker holds; built in order by `assembleWorkerParts`, released by its stack. */
export interface WorkerParts {
  /** Watched for a lost lease; the worker's instance id is its lease id. */
  discovery: Discovery;
  engine: EngineCore;
  role: WorkerRole;
  /** The transfer agent (prefill and decode workers; undefined with --kv-transfer none or aggregated). */
  kvTransfer: KvTransferPart | undefined;
  kvPublisher: KvEventPublisher;
  loadPublisher: LoadPublisher;
  serveHandle: ServeHandle;
  system: SystemServer | undefined;
  canary: Canary;
  registration: Registration;
  metrics: WorkerMetrics;
  /** The lifecycle state the Worker moves and /health reports. */
  phase: WorkerPhase;
  health: () => WorkerHealth;
  log: Logger;
}

/** Cards travel through NATS when this worker is part of a distributed deployment it connected to itself. */
function cardStoreKind(options: WorkerOptions, discovery: Discovery, bus: EventBus): ModelCardStoreKind {
  if (options.modelCardStore) return options.modelCardStore;
  const ownNats = bus.backend === 'nats' && !options.runtime?.eventBus;
  return discovery.backend === 'etcd' && ownNats ? 'nats' : 'model-dir';
}

/** Build every part in dependency order; each release goes on `stack` as soon as its part exists. */
export async function assembleWorkerParts(
  options: WorkerOptions,
  endpointId: EndpointId,
  stack: CleanupStack,
): Promise<WorkerParts> {
  checkPipelineRole(options.engine, options.role ?? WORKER_DEFAULTS.role);
  const runtime = options.runtime ?? {};
  // Before anything connects or loads: a wildcard bind with nothing to publish fails here, in milliseconds.
  const advertiseHost = resolveAdvertiseHost(
    options.host ?? WORKER_DEFAULTS.host,
    options.advertiseHost,
    'worker (--host / --advertise-host)',
  );
  const phase = new WorkerPhase();
  const discovery =
    runtime.discovery ??
    stack.adopt(await createDiscovery(options.discovery), (d) => d.close(), 'close discovery');
  const instanceId = discovery.leaseId();
  const workerId = asWorkerId(instanceId);
  const log = getLogger('worker').child({ workerId: instanceId });
  const scope = { namespace: endpointId.namespace, component: endpointId.component };

  const bus =
    runtime.eventBus ??
    stack.adopt(
      await createEventBus({ backend: 'nats', ...options.events, publisherId: instanceId }),
      (b) => b.close(),
      'close event bus',
    );

  const role = options.role ?? WORKER_DEFAULTS.role;
  const modelDir = specModelDir(options.engine);
  log.info('starting engine', { engine: options.engine.kind, modelDir, role });
  const engine = stack.adopt(
    await createWorkerEngine(options.engine, workerId, {
      kvHoldTimeoutMs: options.kvTransfer?.holdTimeoutMs,
      role,
    }),
    (e) => e.close(),
    'close engine',
  );
  const cardStore =
    cardStoreKind(options, discovery, bus) === 'nats'
      ? stack.adopt(
          await NatsCardStore.connect({
            natsServer: options.events?.natsServer,
            natsSecurity: options.events?.natsSecurity,
          }),
          (s) => s.close(),
          'close model card store',
        )
      : undefined;
  const card = await buildModelCard({
    engine,
    modelDir,
    displayName: options.servedModelName,
    modelType: options.modelType ?? (role === 'prefill' ? 'prefill' : undefined),
    cardStore,
    stepTiming: publishedStepTiming(options.engine),
    log,
  });

  const labels = {
    dynamo_namespace: endpointId.namespace,
    dynamo_component: endpointId.component,
    dynamo_endpoint: endpointId.endpoint,
    worker_id: instanceId,
  };
  // Counted here, read at scrape time: one increment per step, nothing per token.
  let engineSteps = 0;
  engine.onStep(() => {
    engineSteps++;
  });
  const metrics = new WorkerMetrics(labels, {
    kvActiveBlocks: () => engine.kv.stats().activeBlocks,
    kvTotalBlocks: () => engine.kv.numBlocks,
    engineSteps: () => engineSteps,
    prefixCacheHitRate: () => {
      const s = engine.kv.stats();
      return s.queryTokens > 0 ? s.hitTokens / s.queryTokens : 0;
    },
  });
  const host = options.host ?? WORKER_DEFAULTS.host;
  // Before the request plane serves: no request may reach the engine before its KV connector is plugged in.
  const kvTransfer = await startKvTransferPart(
    {
      engine,
      discovery,
      namespace: endpointId.namespace,
      instanceId,
      role,
      options: options.kvTransfer ?? {},
      host,
      advertiseHost,
      clusterSecret: options.clusterSecret,
      simulated: simulatedKvSpec(options.engine),
      log,
    },
    stack,
  );
  const transferMetrics = new KvTransferMetrics(metrics.registry, labels, {
    heldBlocks: () => engine.heldBlocks(),
    heldRequests: () => engine.heldRequests(),
    bytesServed: () => kvTransfer?.agent.counters().bytesSent ?? 0,
    stagedBlocks: () => kvTransfer?.stagedBlocks() ?? 0,
    layerPushes: () => kvTransfer?.layerPushes() ?? { ok: 0, error: 0, bytes: 0 },
    stagedBytes: () => {
      const c = kvTransfer?.agent.counters();
      return { ahead: c?.stagedAheadBytes ?? 0, onRead: c?.stagedOnReadBytes ?? 0 };
    },
  });
  stack.defer(observeKvTransfers(engine, transferMetrics), 'stop observing KV transfers');

  const kvSource = options.kvEvents
    ? await startVllmKvRelay(options.kvEvents, engine.kv.blockSize, log, stack)
    : engine.kv;
  const kvPublisher = new KvEventPublisher({
    bus,
    scope,
    workerId,
    kv: kvSource,
    log,
    onPublished: () => metrics.kvEventPublished(),
  });
  kvPublisher.start();
  stack.defer(() => kvPublisher.stop(500), 'flush KV events');
  const loadMetrics = (): LoadMetrics => ({ ...engine.loadMetrics(), workerId });
  const loadPublisher = new LoadPublisher({
    bus,
    scope,
    read: loadMetrics,
    intervalMs: options.loadIntervalMs ?? WORKER_DEFAULTS.loadIntervalMs,
  });
  loadPublisher.start();
  stack.defer(() => loadPublisher.stop(), 'stop load publisher');

  const plane =
    runtime.requestPlane ??
    stack.adopt(
      new TcpRequestPlane({
        host,
        advertiseHost,
        port: options.port ?? WORKER_DEFAULTS.port,
        clusterSecret: options.clusterSecret,
        unixSocket: options.requestPlaneUnix ?? WORKER_DEFAULTS.requestPlaneUnix,
      }),
      (p) => p.close(),
      'close request plane',
    );
  const serveHandle = await plane.serve(
    workerEndpoints({ engine, workerId, metrics, log, loadMetrics, kvSource }),
  );
  // A graceful stop drains first (Worker.stop); this release is the abrupt one, a no-op after a drain.
  stack.defer(() => serveHandle.stop({ drainMs: 0 }), 'stop serving');

  const canary = new Canary({
    engine,
    name: instanceId,
    log,
    intervalMs: options.canaryIntervalMs ?? WORKER_DEFAULTS.canaryIntervalMs,
    timeoutMs: options.canaryTimeoutMs ?? WORKER_DEFAULTS.canaryTimeoutMs,
    isIdle: () => metrics.inflightRequests === 0,
    onResult: (result) => metrics.canaryFinished(result),
  });
  stack.defer(() => canary.stop(), 'stop canary');

  const health = (): WorkerHealth =>
    describeHealth({
      phase,
      instanceId,
      endpointId,
      model: card.displayName,
      address: serveHandle.address,
      canary,
      metrics,
    });
  const systemPort = options.systemPort === undefined ? WORKER_DEFAULTS.systemPort : options.systemPort;
  const system =
    systemPort === null
      ? undefined
      : stack.adopt(
          await SystemServer.start({
            host,
            port: systemPort,
            log,
            health: () => ({ ...health() }),
            metrics: () => metrics.render(),
          }),
          (server) => server.close(),
          'close status server',
        );

  const instance = buildInstanceInfo(
    endpointId,
    instanceId,
    serveHandle.address,
    system?.port,
    serveHandle.localAddress,
  );
  const registration = new Registration(discovery, instance, card, cardStore);
  stack.defer(() => registration.unregister(), 'unregister');
  return {
    discovery,
    engine,
    role,
    kvTransfer,
    kvPublisher,
    loadPublisher,
    serveHandle,
    system,
    canary,
    registration,
    metrics,
    phase,
    health,
    log,
  };
}

/** `--kv-events`: tail a vLLM engine's KV event publisher; its events replace the engine's own. */
async function startVllmKvRelay(
  kvEvents: NonNullable<WorkerOptions['kvEvents']>,
  blockSize: number,
  log: Logger,
  stack: CleanupStack,
): Promise<VllmKvRelay> {
  const relay = new VllmKvRelay({ ...kvEvents, blockSize, log });
  stack.defer(() => relay.stop(), 'stop vLLM KV event relay');
  await relay.start();
  return relay;
}
