/**
 * Mirrors discovery into the set of served models: watches the instance records and the model cards of
 * one namespace, joins them by key (same {component}/{endpoint}/{instanceId} under both roots), and keeps
 * one ModelDeployment per model name. A model is served from its first decode/aggregated worker until its
 * last one leaves; prefill workers (cards with `modelType: 'prefill'`, disaggregated serving) join the
 * same deployment's prefill pool, and when they arrive first they wait there, unserved, for a decode worker.
 * Like a service mesh sidecar watching Consul: the routing table follows the registry, nothing is static.
 *
 *   /dynamo/v1/instances/{ns}/{comp}/{ep}/{id}  ─┐
 *                                                ├─ join ─► worker {id, address, card} ─► deployment(card.displayName)
 *   /dynamo/v1/mdc/{ns}/{comp}/{ep}/{id}        ─┘
 *
 * Discovery events are applied one at a time, in order (a new model's tokenizer loads in between).
 * A model whose card cannot be loaded here (its folder is missing on this machine, its files cannot be
 * fetched from the object store or fail their checksums) is not served: the reason is logged, kept for
 * `unservable()` (the HTTP 503 says it), and the load is retried every `retryMs` while workers name it.
 */
import { type InstanceInfo, isInstanceInfo, isModelCard, type ModelCard } from '../protocols/discovery.ts';
import { asWorkerId, type WorkerId } from '../protocols/ids.ts';
import type { Discovery, DiscoveryEvent, DiscoveryWatch, KeyValue } from '../runtime/discovery/index.ts';
import { instancesPrefix, modelCardsPrefix, parseDiscoveryKey } from '../runtime/names.ts';
import type { Logger } from '../util/logger.ts';
import type { Router, WorkerInfo } from '../router/index.ts';
import { isPrefillCard, type ModelDeployment } from './model-deployment.ts';
import type { InstanceSummary, ModelRegistry, WorkerStatus } from './served-model.ts';

export interface ModelWatcherOptions {
  discovery: Discovery;
  namespace: string;
  /** Build the deployment of a model seen for the first time (loads its tokenizer, creates its router). */
  createDeployment(card: ModelCard): Promise<ModelDeployment>;
  /** A worker joined a deployment: start following its component's events. */
  onWorkerAdded?(deployment: ModelDeployment, workerId: WorkerId, instance: InstanceInfo): void;
  /** How often a model whose card failed to load is tried again (default 5000 ms). */
  retryMs?: number;
  log: Logger;
}

/** A model that workers registered but this frontend cannot load, and why. */
export interface UnservableModel {
  model: string;
  reason: string;
}

/** `{component}/{endpoint}/{instanceId}`: what an instance record and its model card share. */
type JoinKey = string;

interface WorkerRecord {
  instance?: InstanceInfo;
  card?: ModelCard;
  /** The model it was added to, once both halves were known. */
  model?: string;
}

export class ModelWatcher implements ModelRegistry {
  private readonly records = new Map<JoinKey, WorkerRecord>();
  private readonly deployments = new Map<string, ModelDeployment>();
  private readonly watches: DiscoveryWatch[] = [];
  private readonly failures = new Map<string, string>();
  private retryTimer: NodeJS.Timeout | undefined;
  private queue: Promise<void> = Promise.resolve();
  private closed = false;

  private constructor(private readonly options: ModelWatcherOptions) {}

  /** Start watching; resolves once the models already registered are ready to serve. */
  static async start(options: ModelWatcherOptions): Promise<ModelWatcher> {
    const watcher = new ModelWatcher(options);
    const scope = { namespace: options.namespace };
    const onEvent = (event: DiscoveryEvent) => watcher.enqueue(event);
    const initial: KeyValue[] = [];
    for (const prefix of [instancesPrefix(scope), modelCardsPrefix(scope)]) {
      const watch = await options.discovery.watch(prefix, onEvent);
      watcher.watches.push(watch);
      initial.push(...watch.initial);
    }
    for (const kv of initial) watcher.enqueue({ type: 'put', key: kv.key, value: kv.value });
    await watcher.idle();
    return watcher;
  }

  /** The served models: those with at least one decode/aggregated worker. */
  list(): readonly ModelDeployment[] {
    return [...this.deployments.values()]
      .filter((d) => d.served)
      .sort((a, b) => a.name.localeCompare(b.name));
  }

  find(name: string): ModelDeployment | undefined {
    const byName = this.deployments.get(name);
    if (byName?.served) return byName;
    return this.list().find((d) => d.aliases.includes(name));
  }

  /** The decode/aggregated workers behind the served models (the ones requests are routed to first). */
  instances(): InstanceSummary[] {
    return this.list().flatMap((d) => poolSummaries(d, d.router));
  }

  /** Every member of both pools with the router's view of its health and its last load report (dashboard). */
  workerStatuses(): WorkerStatus[] {
    return this.list().flatMap((d) =>
      (
        [
          ['aggregated', d.router],
          ['prefill', d.prefillRouter],
        ] as const
      ).flatMap(([role, router]) =>
        router.workers.map((w) => ({
          ...summaryOf(d, w),
          role,
          quarantined: router.isQuarantined(w.workerId),
          busy: router.isBusy(w.workerId),
          load: router.loadOf(w.workerId),
        })),
      ),
    );
  }

  /** The prefill workers of the served models (disaggregated serving; clients never reach them directly). */
  prefillInstances(): InstanceSummary[] {
    return this.list().flatMap((d) => poolSummaries(d, d.prefillRouter));
  }

  /** The deployment a worker belongs to, served or not (routes its KV events and load reports). */
  deploymentOf(workerId: WorkerId): ModelDeployment | undefined {
    for (const deployment of this.deployments.values()) {
      if (deployment.hasWorker(workerId)) return deployment;
    }
    return undefined;
  }

  /** Models registered by workers whose cards this frontend could not load, with the reason. */
  unservable(): UnservableModel[] {
    return [...this.failures].map(([model, reason]) => ({ model, reason }));
  }

  /** Resolves when every discovery event received so far has been applied. */
  idle(): Promise<void> {
    return this.queue;
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.retryTimer);
    await Promise.all(this.watches.map((w) => w.close()));
    await this.queue;
  }

  private enqueue(event: DiscoveryEvent): void {
    this.queue = this.queue
      .then(() => this.apply(event))
      .catch((err) => {
        this.options.log.error('discovery event not applied', { key: event.key, error: err });
      });
  }

  /** Try the models that failed to load again, once, after `retryMs`. */
  private scheduleRetry(): void {
    if (this.retryTimer !== undefined || this.closed) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.enqueueRetry();
    }, this.options.retryMs ?? 5000);
    this.retryTimer.unref();
  }

  private enqueueRetry(): void {
    this.queue = this.queue
      .then(() => this.retryFailed())
      .catch((err) => this.options.log.error('retrying models failed', { error: err }));
  }

  private async retryFailed(): Promise<void> {
    for (const [join, record] of this.records) {
      if (this.closed) return;
      const { instance, card } = record;
      if (!instance || !card || record.model !== undefined) continue;
      if (!this.failures.has(card.displayName) && !this.deployments.has(card.displayName)) continue;
      const instanceId = join.slice(join.lastIndexOf('/') + 1);
      await this.reconcile(join, record, asWorkerId(instanceId));
    }
  }

  /** Forget a failure once no worker names the model any more. */
  private dropStaleFailures(): void {
    for (const model of this.failures.keys()) {
      const named = [...this.records.values()].some((r) => r.card?.displayName === model);
      if (!named) this.failures.delete(model);
    }
  }

  private async apply(event: DiscoveryEvent): Promise<void> {
    if (this.closed) return;
    const parsed = parseDiscoveryKey(event.key);
    if (!parsed) return;
    const join = `${parsed.component}/${parsed.endpoint}/${parsed.instanceId}`;
    const record = this.records.get(join) ?? {};
    const value = event.type === 'put' ? event.value : undefined;
    if (parsed.kind === 'instance') {
      if (value !== undefined && !isInstanceInfo(value)) return this.skip(event.key, 'instance record');
      record.instance = value;
    } else {
      if (value !== undefined && !isModelCard(value)) return this.skip(event.key, 'model card');
      record.card = value;
    }
    this.records.set(join, record);
    await this.reconcile(join, record, asWorkerId(parsed.instanceId));
  }

  private skip(key: string, what: string): void {
    this.options.log.warn(`ignoring a malformed ${what} in discovery`, { key });
  }

  /** Make the deployments agree with one worker's record: in a model when both halves are known. */
  private async reconcile(join: JoinKey, record: WorkerRecord, workerId: WorkerId): Promise<void> {
    const { instance, card } = record;
    const wanted = instance && card ? card.displayName : undefined;
    if (record.model !== undefined && record.model !== wanted) this.removeWorker(record.model, workerId);
    record.model = undefined;
    if (wanted === undefined || !instance || !card) {
      if (!instance && !card) this.records.delete(join);
      this.dropStaleFailures();
      return;
    }
    let deployment = this.deployments.get(wanted);
    if (!deployment) {
      try {
        deployment = await this.options.createDeployment(card);
      } catch (err) {
        this.noteFailure(wanted, err);
        return;
      }
      this.deployments.set(wanted, deployment);
      // Workers of this model that arrived while its card failed to load join now, after this one.
      if (this.failures.delete(wanted)) this.enqueueRetry();
    }
    const wasServed = deployment.served;
    try {
      deployment.addWorker(workerId, instance, card);
    } catch (err) {
      this.options.log.error('worker not added', { workerId, model: wanted, error: err });
      if (deployment.empty) this.deployments.delete(wanted);
      return;
    }
    record.model = wanted;
    const role = isPrefillCard(card) ? 'prefill' : 'decode';
    this.options.log.info('worker added', { workerId, model: wanted, role, address: instance.transport.tcp });
    if (!wasServed && deployment.served) {
      this.options.log.info('model added', {
        model: wanted,
        blockSize: card.kvCacheBlockSize,
        prefillWorkers: deployment.prefillRouter.size,
      });
    } else if (!deployment.served) {
      this.options.log.info('prefill worker waits: the model is served once a decode worker registers', {
        workerId,
        model: wanted,
      });
    }
    this.options.onWorkerAdded?.(deployment, workerId, instance);
  }

  private noteFailure(model: string, err: unknown): void {
    const reason = err instanceof Error ? err.message : String(err);
    if (this.failures.get(model) !== reason) {
      this.options.log.error('model not served: this frontend cannot load its model card', {
        model,
        reason,
        retryMs: this.options.retryMs ?? 5000,
      });
    }
    this.failures.set(model, reason);
    this.scheduleRetry();
  }

  private removeWorker(model: string, workerId: WorkerId): void {
    const deployment = this.deployments.get(model);
    const wasServed = deployment?.served;
    if (!deployment?.removeWorker(workerId)) return;
    this.options.log.info('worker removed', { workerId, model });
    if (deployment.empty) {
      this.deployments.delete(model);
      this.options.log.info('model removed: its last worker left', { model });
    } else if (wasServed && !deployment.served) {
      this.options.log.warn('model no longer served: its last decode worker left; prefill workers wait', {
        model,
        prefillWorkers: deployment.prefillRouter.size,
      });
    }
  }
}

/** One pool member as /health lists it. */
function summaryOf(d: ModelDeployment, w: WorkerInfo): InstanceSummary {
  return { id: w.workerId, address: w.address ?? 'unknown', model: d.name };
}

function poolSummaries(d: ModelDeployment, router: Router): InstanceSummary[] {
  return router.workers.map((w) => summaryOf(d, w));
}
