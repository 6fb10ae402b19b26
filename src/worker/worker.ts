/**
 * Worker: one backend instance (docs/design-notes.md#roles), like a service process behind a
 * load balancer that
 * registers itself in Consul, reports its load, and drains before it exits. It hosts one engine and:
 *
 *   start   discovery lease ─► event bus ─► engine ─► transfer agent (prefill/decode) ─► KV-event + load
 *           publishers ─► request plane (generate, kv_snapshot, load) ─► status port ─► startup canary ─►
 *           register instance + model card
 *   stop    unregister (delete keys, revoke lease) ─► drain in-flight calls ─► wait for held KV pulls ─►
 *           flush KV events ─► close agent ─► close engine
 *   lease lost (etcd unreachable for a TTL, or revoked) ─► logged loudly; in-flight requests go on ─►
 *           once discovery answers: renew the lease ─► transfer metadata, instance, model card put again
 *           (same instance id). With `exitOnLeaseLoss`: stop instead, `exited` says 'lease-lost'
 *
 * Usable in-process (embedded mode, tests) and from `dhw worker`. Everything it creates it also closes:
 * each part's release is on one CleanupStack (worker-parts.ts), run newest first by `stop` or by a failed
 * `start`. Instances passed in through `runtime` stay the caller's (only the worker's own keys are deleted).
 */
import type { EngineCore } from '../engine/index.ts';
import type { InstanceId, InstanceInfo, ModelCard } from '../protocols/discovery.ts';
import { asWorkerId, type WorkerId } from '../protocols/ids.ts';
import type { LoadMetrics } from '../protocols/kv-events.ts';
import { checkEndpointId, DEFAULT_NAMESPACE, type EndpointId } from '../runtime/names.ts';
import type { TransferAgent } from '../transfer/index.ts';
import { CleanupStack } from '../util/cleanup-stack.ts';
import type { Logger } from '../util/logger.ts';
import type { CanaryResult } from './canary.ts';
import { putUnderLease } from './lease-at-start.ts';
import { RegistrationGuard } from './registration-guard.ts';
import { WorkerError } from './errors.ts';
import type { WorkerHealth, WorkerState } from './worker-health.ts';
import type { WorkerMetrics } from './worker-metrics.ts';
import { WORKER_DEFAULTS, type WorkerOptions, type WorkerRole } from './worker-options.ts';
import { assembleWorkerParts, type WorkerParts } from './worker-parts.ts';

export type WorkerExit = { reason: 'stopped' } | { reason: 'lease-lost'; error: Error };

export class Worker {
  readonly instanceId: InstanceId;
  readonly workerId: WorkerId;
  readonly endpointId: EndpointId;
  private readonly log: Logger;
  private stopping: Promise<void> | undefined;
  private reregistering = false;
  private resolveExit!: (exit: WorkerExit) => void;
  private exitReason: WorkerExit = { reason: 'stopped' };
  /** Settles once the worker has fully stopped: after `stop()`, or by itself when its lease is lost. */
  readonly exited: Promise<WorkerExit> = new Promise((resolve) => {
    this.resolveExit = resolve;
  });

  private constructor(
    private readonly parts: WorkerParts,
    /** Releases every part `assembleWorkerParts` took, newest first. */
    private readonly stack: CleanupStack,
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
  }

  /** Start a worker and register it. Fails fast (and releases what it took) if any dependency is missing. */
  static async start(options: WorkerOptions): Promise<Worker> {
    const endpointId = checkEndpointId({
      namespace: options.namespace ?? DEFAULT_NAMESPACE,
      component:
        options.component ??
        (options.role === 'prefill' ? WORKER_DEFAULTS.prefillComponent : WORKER_DEFAULTS.component),
      endpoint: options.endpoint ?? WORKER_DEFAULTS.endpoint,
    });
    const stack = new CleanupStack();
    try {
      const worker = new Worker(await assembleWorkerParts(options, endpointId, stack), stack, options);
      await worker.goLive();
      return worker;
    } catch (err) {
      // Release exactly what was taken; their failures are dropped: the original error is what the caller needs.
      await stack.disposeAll();
      throw err;
    }
  }

  get state(): WorkerState {
    return this.parts.phase.state;
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

  get role(): WorkerRole {
    return this.parts.role;
  }

  /** The transfer agent (its name is the instance id), if this worker runs one. */
  get transferAgent(): TransferAgent | undefined {
    return this.parts.kvTransfer?.agent;
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
    return this.parts.health();
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
    const { canary, registration, discovery, kvTransfer } = this.parts;
    const first = await canary.runOnce();
    if (!first.ok) {
      throw new WorkerError(
        `the engine failed its startup canary (a 1-token request): ${first.error}. Check the model files and ` +
          'the engine flags (e.g. --num-kv-blocks, --max-num-batched-tokens).',
      );
    }
    await putUnderLease(
      discovery,
      this.log,
      'the worker registered',
      () => registration.register(),
      async () => kvTransfer?.republish(),
    );
    this.parts.phase.state = 'ready';
    canary.start();
    discovery.onLeaseLost((err) => this.onLeaseLost(err));
    await this.guardKeys();
    this.log.info('worker registered', {
      model: registration.card.displayName,
      role: this.parts.role,
      address: this.address,
      systemPort: this.systemPort,
      instanceKey: registration.instanceKey,
      canaryMs: Math.round(first.latencyMs * 10) / 10,
    });
  }

  /**
   * Keys deleted behind our back while the lease lives are put back (RegistrationGuard). Not on file
   * discovery, whose watches poll the directory: one poller per key would cost more than the rare case.
   */
  private async guardKeys(): Promise<void> {
    const { discovery, registration, kvTransfer } = this.parts;
    if (discovery.backend === 'file') return;
    const guard = await RegistrationGuard.start({
      discovery,
      keys: [
        registration.instanceKey,
        registration.modelCardKey,
        ...(kvTransfer ? [kvTransfer.metadataKey] : []),
      ],
      active: () => this.parts.phase.state === 'ready' && !this.stopping,
      restore: async () => {
        await kvTransfer?.republish();
        await registration.register();
      },
      log: this.log,
    });
    this.stack.defer(() => guard.close(), 'stop guarding registration keys');
  }

  private onLeaseLost(err: Error): void {
    if (this.stopping) return;
    this.parts.registration.forget(); // the keys went with the lease: nothing left to delete
    this.parts.kvTransfer?.forget();
    if (this.options.exitOnLeaseLoss) {
      this.exitReason = { reason: 'lease-lost', error: err };
      this.log.error(
        'discovery lease lost: this worker is no longer registered, so no frontend can find it; shutting down ' +
          '(--exit-on-lease-loss: a supervisor should restart it once discovery is reachable)',
        { error: err },
      );
      void this.stop();
      return;
    }
    this.parts.phase.state = 'unregistered';
    this.log.error(
      'discovery lease lost: frontends that already know this worker keep routing to it, new ones cannot find ' +
        'it; in-flight requests go on, and it registers again as soon as discovery answers',
      { error: err },
    );
    void this.reregister();
  }

  /**
   * Take the lease again and put our keys back, retrying with backoff (250 ms doubling to 2 s) while
   * discovery cannot be reached. Transfer metadata first: a decode worker routed to by the new
   * registration must find the agent it pulls from.
   */
  private async reregister(): Promise<void> {
    if (this.reregistering) return;
    this.reregistering = true;
    const { discovery, registration, kvTransfer } = this.parts;
    const lostAt = Date.now();
    let delayMs = 250;
    for (let attempt = 1; !this.stopping; attempt++) {
      try {
        await discovery.renewLease();
        if (this.stopping) break;
        await kvTransfer?.republish();
        await registration.register();
        if (this.stopping) break;
        this.parts.phase.state = 'ready';
        this.reregistering = false;
        this.log.info('worker registered again', {
          instanceKey: registration.instanceKey,
          attempts: attempt,
          unregisteredMs: Date.now() - lostAt,
        });
        discovery.onLeaseLost((err) => this.onLeaseLost(err));
        return;
      } catch (err) {
        if (attempt === 1 || attempt % 10 === 0)
          this.log.warn('cannot register again yet; retrying', { error: err, attempt, retryInMs: delayMs });
        await new Promise((resolve) => setTimeout(resolve, delayMs));
        delayMs = Math.min(delayMs * 2, 2000);
      }
    }
    this.reregistering = false;
  }

  /**
   * Quiesce in the order callers notice (stop probing, leave discovery so no new calls come, drain the
   * calls in flight, stop load reports, flush the KV events those calls produced), then release every
   * part newest first. The releases of parts already quiesced are no-ops.
   */
  private async shutdown(drainMs: number): Promise<void> {
    const p = this.parts;
    p.phase.state = 'draining';
    this.log.info('worker stopping', { drainMs, inflightRequests: p.metrics.inflightRequests });
    p.canary.stop();
    await this.step('unregister', () => p.registration.unregister());
    const drainStarted = Date.now();
    await this.step('drain', () => p.serveHandle.stop({ drainMs }));
    // A prefill worker's finished prompts wait for their pulls: give decode workers the rest of the drain.
    const heldWaitMs = Math.max(0, drainMs - (Date.now() - drainStarted));
    await this.step('wait for held KV pulls', () => p.kvTransfer?.awaitHeldPulled(heldWaitMs));
    p.loadPublisher.stop();
    await this.step('flush KV events', () => p.kvPublisher.stop());
    for (const failure of await this.stack.disposeAll()) {
      this.log.warn(`shutdown step failed: ${failure.name}`, { error: failure.error });
    }
    p.phase.state = 'stopped';
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
