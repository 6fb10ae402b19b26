/**
 * Worker: one backend instance (design.md §1), like a service process behind a load balancer that
 * registers itself in Consul, reports its load, and drains before it exits. It hosts one engine and:
 *
 *   start   discovery lease ─► event bus ─► engine ─► KV-event + load publishers ─► request plane
 *           (generate, kv_snapshot, load) ─► status port ─► startup canary ─► register instance + model card
 *   stop    unregister (delete keys, revoke lease) ─► drain in-flight calls ─► flush KV events ─► close engine
 *   lease lost (etcd unreachable for a TTL, or revoked) ─► logged loudly, stop, `exited` says 'lease-lost'
 *
 * Usable in-process (embedded mode, tests) and from `dhw worker`. Everything it creates it also closes;
 * instances passed in through `runtime` stay the caller's (only the worker's own keys are deleted).
 */
import type { EngineCore } from '../engine/index.ts';
import type { InstanceId, InstanceInfo, ModelCard } from '../protocols/discovery.ts';
import { asWorkerId, type WorkerId } from '../protocols/ids.ts';
import type { LoadMetrics } from '../protocols/kv-events.ts';
import { checkEndpointId, DEFAULT_NAMESPACE, type EndpointId } from '../runtime/names.ts';
import type { Logger } from '../util/logger.ts';
import type { CanaryResult } from './canary.ts';
import { WorkerError } from './errors.ts';
import type { WorkerMetrics } from './worker-metrics.ts';
import { WORKER_DEFAULTS, type WorkerOptions } from './worker-options.ts';
import { assembleWorkerParts, type Cleanup, type WorkerParts } from './worker-parts.ts';

export type WorkerState = 'starting' | 'ready' | 'draining' | 'stopped';

export type WorkerExit = { reason: 'stopped' } | { reason: 'lease-lost'; error: Error };

export interface WorkerHealth {
  /** Registered, not draining, and the last canary produced a token. */
  ready: boolean;
  state: WorkerState;
  instanceId: InstanceId;
  namespace: string;
  component: string;
  endpoint: string;
  model: string;
  address: string;
  inflightRequests: number;
  uptimeSeconds: number;
  canary?: CanaryResult;
}

export class Worker {
  readonly instanceId: InstanceId;
  readonly workerId: WorkerId;
  readonly endpointId: EndpointId;
  private readonly log: Logger;
  private stateValue: WorkerState = 'starting';
  private stopping: Promise<void> | undefined;
  private resolveExit!: (exit: WorkerExit) => void;
  private exitReason: WorkerExit = { reason: 'stopped' };
  private readonly startedAt = Date.now();
  /** Settles once the worker has fully stopped: after `stop()`, or by itself when its lease is lost. */
  readonly exited: Promise<WorkerExit> = new Promise((resolve) => {
    this.resolveExit = resolve;
  });

  private constructor(
    private readonly parts: WorkerParts,
    private readonly options: WorkerOptions,
  ) {
    this.log = parts.log;
    this.instanceId = parts.registration.instance.instanceId;
    this.workerId = asWorkerId(this.instanceId);
    this.endpointId = {
      namespace: parts.registration.instance.namespace,
      component: parts.registration.instance.component,
      endpoint: parts.registration.instance.endpoint,
    };
    parts.health.current = () => ({ ...this.health() });
  }

  /** Start a worker and register it. Fails fast (and releases what it took) if any dependency is missing. */
  static async start(options: WorkerOptions): Promise<Worker> {
    const endpointId = checkEndpointId({
      namespace: options.namespace ?? DEFAULT_NAMESPACE,
      component: options.component ?? WORKER_DEFAULTS.component,
      endpoint: options.endpoint ?? WORKER_DEFAULTS.endpoint,
    });
    const cleanups: Cleanup[] = [];
    try {
      const worker = new Worker(await assembleWorkerParts(options, endpointId, cleanups), options);
      await worker.goLive();
      return worker;
    } catch (err) {
      for (const cleanup of cleanups.reverse()) {
        try {
          await cleanup();
        } catch {
          // best effort: the original error is what the caller needs to see
        }
      }
      throw err;
    }
  }

  get state(): WorkerState {
    return this.stateValue;
  }

  /** Request-plane address callers dial ("host:port"). */
  get address(): string {
    return this.parts.serveHandle.address;
  }

  get systemPort(): number | undefined {
    return this.parts.system?.port;
  }

  get engine(): EngineCore {
    return this.parts.engine;
  }

  get instanceInfo(): InstanceInfo {
    return this.parts.registration.instance;
  }

  get modelCard(): ModelCard {
    return this.parts.registration.card;
  }

  get metrics(): WorkerMetrics {
    return this.parts.metrics;
  }

  /** The engine's load, stamped with this worker's id (what `kv_metrics` carries). */
  loadMetrics(): LoadMetrics {
    return { ...this.parts.engine.loadMetrics(), workerId: this.workerId };
  }

  /** Run a canary now (tests, `/health?probe`-style checks); /health reports it afterwards. */
  runCanary(): Promise<CanaryResult> {
    return this.parts.canary.runOnce();
  }

  health(): WorkerHealth {
    const canary = this.parts.canary.last;
    return {
      ready: this.stateValue === 'ready' && canary?.ok === true,
      state: this.stateValue,
      instanceId: this.instanceId,
      ...this.endpointId,
      model: this.parts.registration.card.displayName,
      address: this.address,
      inflightRequests: this.parts.metrics.inflightRequests,
      uptimeSeconds: Math.round((Date.now() - this.startedAt) / 1000),
      canary,
    };
  }

  /**
   * Graceful shutdown: unregister (callers stop picking us), drain in-flight requests for up to `drainMs`,
   * flush KV events, close the engine and everything the worker created. Idempotent.
   */
  stop(options: { drainMs?: number } = {}): Promise<void> {
    this.stopping ??= this.shutdown(options.drainMs ?? this.options.drainMs ?? WORKER_DEFAULTS.drainMs);
    return this.stopping;
  }

  private async goLive(): Promise<void> {
    const { canary, registration, discovery } = this.parts;
    const first = await canary.runOnce();
    if (!first.ok) {
      throw new WorkerError(
        `the engine failed its startup canary (a 1-token request): ${first.error}. Check the model files and ` +
          'the engine flags (e.g. --num-kv-blocks, --max-num-batched-tokens).',
      );
    }
    await registration.register();
    this.stateValue = 'ready';
    canary.start();
    discovery.onLeaseLost((err) => this.onLeaseLost(err));
    this.log.info('worker registered', {
      model: registration.card.displayName,
      address: this.address,
      systemPort: this.systemPort,
      instanceKey: registration.instanceKey,
      canaryMs: Math.round(first.latencyMs * 10) / 10,
    });
  }

  private onLeaseLost(err: Error): void {
    if (this.stopping) return;
    this.exitReason = { reason: 'lease-lost', error: err };
    this.log.error(
      'discovery lease lost: this worker is no longer registered, so no frontend can find it; shutting down ' +
        '(a supervisor should restart it once discovery is reachable)',
      { error: err },
    );
    void this.stop();
  }

  private async shutdown(drainMs: number): Promise<void> {
    const p = this.parts;
    const wasReady = this.stateValue === 'ready';
    this.stateValue = 'draining';
    this.log.info('worker stopping', { drainMs, inflightRequests: p.metrics.inflightRequests });
    p.canary.stop();
    await this.step('unregister', async () => {
      if (this.exitReason.reason === 'lease-lost') return; // the keys went with the lease
      if (wasReady) await p.registration.unregister();
      if (p.ownsDiscovery) await p.discovery.close();
    });
    await this.step('drain', () => p.serveHandle.stop({ drainMs }));
    p.loadPublisher.stop();
    await this.step('flush KV events', () => p.kvPublisher.stop());
    await this.step('close engine', () => p.engine.close());
    await this.step('close status server', () => p.system?.close());
    if (p.ownsBus) await this.step('close event bus', () => p.bus.close());
    if (p.ownsPlane) await this.step('close request plane', () => p.plane.close());
    if (p.ownsDiscovery && this.exitReason.reason === 'lease-lost') {
      await this.step('close discovery', () => p.discovery.close());
    }
    this.stateValue = 'stopped';
    this.log.info('worker stopped', { reason: this.exitReason.reason });
    this.resolveExit(this.exitReason);
  }

  /** One shutdown step: a failure is logged and the next step still runs. */
  private async step(name: string, run: () => Promise<unknown> | unknown): Promise<void> {
    try {
      await run();
    } catch (err) {
      this.log.warn(`shutdown step failed: ${name}`, { error: err });
    }
  }
}
