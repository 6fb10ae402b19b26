/**
 * Brings up the pieces a Worker holds, in dependency order, like an init system starting a service's
 * sidecars before the service: discovery lease, event bus, engine, publishers, request plane, canary,
 * status port. Each piece registers its cleanup as it comes up, so a failure half-way releases exactly
 * what was taken (no leaked lease, port or NATS connection).
 */
import type { EngineCore } from '../engine/index.ts';
import { asWorkerId } from '../protocols/ids.ts';
import type { LoadMetrics } from '../protocols/kv-events.ts';
import { createDiscovery, type Discovery } from '../runtime/discovery/index.ts';
import { createEventBus, type EventBus } from '../runtime/events/index.ts';
import type { EndpointId } from '../runtime/names.ts';
import { type RequestPlane, type ServeHandle, TcpRequestPlane } from '../runtime/request-plane/index.ts';
import { getLogger, type Logger } from '../util/logger.ts';
import { Canary } from './canary.ts';
import { workerEndpoints } from './endpoints.ts';
import { KvEventPublisher } from './kv-event-publisher.ts';
import { LoadPublisher } from './load-publisher.ts';
import { buildInstanceInfo, buildModelCard, Registration } from './registration.ts';
import { SystemServer } from './system-server.ts';
import { createWorkerEngine, specModelDir } from './worker-engine.ts';
import { WorkerMetrics } from './worker-metrics.ts';
import { WORKER_DEFAULTS, type WorkerOptions } from './worker-options.ts';

export type Cleanup = () => Promise<unknown> | unknown;

/** The pieces a running worker holds; built in order by `Worker.start`, released in reverse by `stop`. */
export interface WorkerParts {
  discovery: Discovery;
  ownsDiscovery: boolean;
  bus: EventBus;
  ownsBus: boolean;
  plane: RequestPlane;
  ownsPlane: boolean;
  engine: EngineCore;
  kvPublisher: KvEventPublisher;
  loadPublisher: LoadPublisher;
  serveHandle: ServeHandle;
  system: SystemServer | undefined;
  canary: Canary;
  registration: Registration;
  metrics: WorkerMetrics;
  /** What /health reports; set by the Worker once it exists. */
  health: { current?: () => { ready: boolean } & Record<string, unknown> };
  log: Logger;
}

/** Build every part in dependency order, registering a cleanup for each as it comes up. */
export async function assembleWorkerParts(
  options: WorkerOptions,
  endpointId: EndpointId,
  cleanups: Cleanup[],
): Promise<WorkerParts> {
  const runtime = options.runtime ?? {};
  const discovery = runtime.discovery ?? (await createDiscovery(options.discovery));
  if (!runtime.discovery) cleanups.push(() => discovery.close());
  const instanceId = discovery.leaseId();
  const workerId = asWorkerId(instanceId);
  const log = getLogger('worker').child({ workerId: instanceId });
  const scope = { namespace: endpointId.namespace, component: endpointId.component };

  const bus =
    runtime.eventBus ??
    (await createEventBus({ backend: 'nats', ...options.events, publisherId: instanceId }));
  if (!runtime.eventBus) cleanups.push(() => bus.close());

  const modelDir = specModelDir(options.engine);
  log.info('starting engine', { engine: options.engine.kind, modelDir });
  const engine = await createWorkerEngine(options.engine, workerId);
  cleanups.push(() => engine.close());
  const card = await buildModelCard({
    engine,
    modelDir,
    displayName: options.servedModelName,
    modelType: options.modelType,
  });

  const canaryRef: { current?: Canary } = {};
  const metrics = new WorkerMetrics(
    {
      dynamo_namespace: endpointId.namespace,
      dynamo_component: endpointId.component,
      dynamo_endpoint: endpointId.endpoint,
      worker_id: instanceId,
    },
    {
      kvActiveBlocks: () => engine.kv.stats().activeBlocks,
      kvTotalBlocks: () => engine.kv.numBlocks,
      prefixCacheHitRate: () => {
        const s = engine.kv.stats();
        return s.queryTokens > 0 ? s.hitTokens / s.queryTokens : 0;
      },
      canary: () => canaryRef.current?.last,
    },
  );
  const kvPublisher = new KvEventPublisher({
    bus,
    scope,
    workerId,
    kv: engine.kv,
    log,
    onPublished: () => metrics.kvEventPublished(),
  });
  kvPublisher.start();
  cleanups.push(() => kvPublisher.stop(500));
  const loadMetrics = (): LoadMetrics => ({ ...engine.loadMetrics(), workerId });
  const loadPublisher = new LoadPublisher({
    bus,
    scope,
    read: loadMetrics,
    intervalMs: options.loadIntervalMs ?? WORKER_DEFAULTS.loadIntervalMs,
  });
  loadPublisher.start();
  cleanups.push(() => loadPublisher.stop());

  const host = options.host ?? WORKER_DEFAULTS.host;
  const plane =
    runtime.requestPlane ?? new TcpRequestPlane({ host, port: options.port ?? WORKER_DEFAULTS.port });
  if (!runtime.requestPlane) cleanups.push(() => plane.close());
  const serveHandle = await plane.serve(workerEndpoints({ engine, workerId, metrics, log, loadMetrics }));
  cleanups.push(() => serveHandle.stop({ drainMs: 0 }));

  const canary = new Canary({
    engine,
    name: instanceId,
    log,
    intervalMs: options.canaryIntervalMs ?? WORKER_DEFAULTS.canaryIntervalMs,
    timeoutMs: options.canaryTimeoutMs ?? WORKER_DEFAULTS.canaryTimeoutMs,
    isIdle: () => metrics.inflightRequests === 0,
  });
  canaryRef.current = canary;
  cleanups.push(() => canary.stop());

  const health: WorkerParts['health'] = {};
  const systemPort = options.systemPort === undefined ? WORKER_DEFAULTS.systemPort : options.systemPort;
  let system: SystemServer | undefined;
  if (systemPort !== null) {
    system = await SystemServer.start({
      host,
      port: systemPort,
      log,
      health: () => health.current?.() ?? { ready: false, state: 'starting' },
      metrics: () => metrics.render(),
    });
    const started = system;
    cleanups.push(() => started.close());
  }

  const instance = buildInstanceInfo(endpointId, instanceId, serveHandle.address, system?.port);
  const registration = new Registration(discovery, instance, card);
  cleanups.push(() => registration.unregister());
  return {
    discovery,
    ownsDiscovery: !runtime.discovery,
    bus,
    ownsBus: !runtime.eventBus,
    plane,
    ownsPlane: !runtime.requestPlane,
    engine,
    kvPublisher,
    loadPublisher,
    serveHandle,
    system,
    canary,
    registration,
    metrics,
    health,
    log,
  };
}
