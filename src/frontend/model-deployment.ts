/**
 * One served model in a distributed frontend: its tokenizer (loaded once, from the model card), its
 * router (one per model: workers of different models never share a KV index; the router is the one record
 * of the model's workers, their addresses, load and health) and the RoutedEngine the HTTP routes call.
 * Like one nginx `upstream` block with its own balancer state.
 *
 * Disaggregated serving adds a second pool: `prefillRouter`, over the workers whose model card says
 * `modelType: 'prefill'` (built with the same policy flags, so KV-aware by default, and fed by those
 * workers' own KV events and load reports). The model is served (clients see it) once `router`, the
 * decode/aggregated pool, has a worker; prefill workers that arrive first wait in their pool.
 */
import { basename } from 'node:path';
import type { InstanceInfo, ModelCard } from '../protocols/discovery.ts';
import type { WorkerId } from '../protocols/ids.ts';
import type { KvHandOffMode } from '../protocols/kv-transfer.ts';
import { createRouter, DEFAULT_BUSY_THRESHOLD, type Router, type RouterFlags } from '../router/index.ts';
import { DISAGG_DEFAULTS, type DisaggPolicyOptions } from '../router/disagg-policy.ts';
import { dialAddress, type RequestPlane } from '../runtime/request-plane/index.ts';
import { readTokenizerFiles, Tokenizer } from '../tokens/index.ts';
import { DhwError } from '../util/errors.ts';
import { getLogger, type Logger } from '../util/logger.ts';
import { AdmissionQueue, DEFAULT_MAX_QUEUED_REQUESTS } from './admission.ts';
import type { FrontendMetrics } from './metrics.ts';
import { ModelCardFiles } from './model-card-files.ts';
import { RoutedEngine } from './routed-engine.ts';
import { mergeEosIds, type ServedModel } from './served-model.ts';

/** The router flags a deployment is built with (`requestSnapshot` is wired per deployment). */
export type DeploymentRouterFlags = Omit<RouterFlags, 'requestSnapshot' | 'blockSize' | 'busyThreshold'>;

export interface DeploymentOptions {
  card: ModelCard;
  /**
   * Resolves the card's tokenizer source to a local folder (fetching from the object store if needed).
   * Default: model-dir cards only.
   */
  cardFiles?: ModelCardFiles;
  plane: RequestPlane;
  router: DeploymentRouterFlags;
  migrationLimit: number;
  /** KV usage (0..1) at which the router skips a worker; all busy → wait in the queue (default 0.95). */
  busyThreshold?: number;
  /** --max-queued-requests: requests that may wait while every worker is busy (default 256; 0 = 503 at once). */
  maxQueuedRequests?: number;
  /** Ask a worker for its KV state after a gap in its events (wired to the event feed). */
  requestSnapshot: (deployment: ModelDeployment, workerId: WorkerId) => void;
  /** --max-local-prefill-length, --max-prefill-queue-size (default DISAGG_DEFAULTS). */
  disagg?: DisaggPolicyOptions;
  /** --kv-transfer-mode: whole (default) or layerwise. */
  kvTransferMode?: KvHandOffMode;
  /** Where disaggregation decisions and remote prefill failures are counted (the HTTP server's /metrics). */
  metrics?: FrontendMetrics;
  log: Logger;
}

/** Whether a model card announces a prefill worker (disaggregated serving) rather than a decode/aggregated one. */
export function isPrefillCard(card: ModelCard): boolean {
  return card.modelType === 'prefill';
}

/**
 * A model card this frontend cannot serve: the tokenizer folder it names is missing here, or its files
 * cannot be fetched from the object store or do not match their checksums. Distinct from util's
 * `ModelLoadError` (a checkpoint that cannot be loaded into an engine).
 */
export class ModelCardLoadError extends DhwError {}

function describeSource(card: ModelCard): string {
  const source = card.tokenizer;
  return source.kind === 'model-dir'
    ? `folder ${source.path}`
    : `object store bucket '${source.bucket}' (mdcsum ${source.mdcsum})`;
}

function loadFix(card: ModelCard): string {
  return card.tokenizer.kind === 'model-dir'
    ? "the card names a folder on the worker's machine, so it must exist here too (same machine or a shared " +
        'filesystem); or restart the workers with --model-card-store nats so their cards travel through NATS'
    : 'check `dhw doctor` on this machine';
}

/** The tokenizer a model card points at, with the card's own chat template when it has one. */
export async function loadCardTokenizer(
  card: ModelCard,
  cardFiles: ModelCardFiles = new ModelCardFiles({ natsServer: null, log: getLogger('frontend') }),
): Promise<Tokenizer> {
  try {
    const files = await readTokenizerFiles(await cardFiles.localDir(card));
    if (card.chatTemplate !== undefined) {
      files.chatTemplate = { kind: 'template', template: card.chatTemplate, origin: 'model card' };
    }
    return Tokenizer.fromFiles(files);
  } catch (err) {
    throw new ModelCardLoadError(
      `cannot load the tokenizer of model '${card.displayName}' from its ${describeSource(card)}: ` +
        `${(err as Error).message}; ${loadFix(card)}`,
      { cause: err },
    );
  }
}

/** The model folder's name as the card records it: a second name clients may use. */
function folderAlias(card: ModelCard): string | undefined {
  const source = card.tokenizer;
  const path = source.kind === 'model-dir' ? source.path : source.workerPath;
  const folder = path === undefined ? undefined : basename(path);
  return folder && folder !== card.displayName ? folder : undefined;
}

export class ModelDeployment implements ServedModel {
  readonly name: string;
  readonly aliases: readonly string[];
  readonly eosTokenIds: readonly number[];
  readonly created = Math.floor(Date.now() / 1000);
  readonly engine: RoutedEngine;
  /** Requests waiting for a worker while all are busy. */
  readonly admission: AdmissionQueue;

  private constructor(
    readonly card: ModelCard,
    readonly tokenizer: Tokenizer,
    readonly router: Router,
    readonly prefillRouter: Router,
    options: DeploymentOptions,
  ) {
    this.name = card.displayName;
    const alias = folderAlias(card);
    this.aliases = alias ? [alias] : [];
    this.eosTokenIds = mergeEosIds(card.eosTokenIds, tokenizer.eosTokenIds);
    const metrics = options.metrics;
    this.admission = new AdmissionQueue({
      model: this.name,
      maxQueued: options.maxQueuedRequests ?? DEFAULT_MAX_QUEUED_REQUESTS,
      observer: metrics && {
        depth: (queued) => metrics.setQueued(this.name, queued),
        rejected: (reason) => metrics.admissionRejected(this.name, reason),
      },
    });
    if (metrics && router.queue) {
      router.queue.onDepth((depth) => metrics.setRouterQueued(this.name, depth));
      metrics.setRouterQueued(this.name, 0);
    }
    this.engine = new RoutedEngine({
      info: {
        name: this.name,
        contextLength: card.contextLength,
        vocabSize: tokenizer.vocabSize,
        eosTokenIds: [...this.eosTokenIds],
      },
      router,
      prefillRouter,
      plane: options.plane,
      blockSize: card.kvCacheBlockSize,
      migrationLimit: options.migrationLimit,
      disagg: options.disagg ?? DISAGG_DEFAULTS,
      kvTransferMode: options.kvTransferMode,
      metrics: options.metrics,
      admission: this.admission,
      log: options.log,
    });
  }

  static async create(options: DeploymentOptions): Promise<ModelDeployment> {
    const tokenizer = await loadCardTokenizer(options.card, options.cardFiles);
    let deployment: ModelDeployment | undefined;
    // Two routers, same flags: each pool has its own KV index (a prefill worker's cache is not a decode
    // worker's), its own in-flight ledger and its own quarantine.
    // The router queue (when on) holds requests before the decode/aggregated pick only: a remote prefill is
    // chosen after that pick, so its router routes on arrival.
    const newRouter = (pool: 'decode' | 'prefill') =>
      createRouter({
        // The dashboard shows the last decisions' cost arithmetic, so build it even when not logged.
        explainAlways: true,
        ...options.router,
        queue: pool === 'decode' ? options.router.queue : undefined,
        blockSize: options.card.kvCacheBlockSize,
        busyThreshold: options.busyThreshold ?? DEFAULT_BUSY_THRESHOLD,
        requestSnapshot: (workerId) => {
          if (deployment) options.requestSnapshot(deployment, workerId);
        },
      });
    const [router, prefillRouter] = await Promise.all([newRouter('decode'), newRouter('prefill')]);
    deployment = new ModelDeployment(options.card, tokenizer, router, prefillRouter, options);
    return deployment;
  }

  /** Clients may use the model: it has at least one decode/aggregated worker (prefill workers alone cannot answer). */
  get served(): boolean {
    return this.router.size > 0;
  }

  /** No worker of either kind is left: the deployment can be dropped. */
  get empty(): boolean {
    return this.router.size === 0 && this.prefillRouter.size === 0;
  }

  /** The router whose pool holds this worker (decode/aggregated or prefill), if either does. */
  routerOf(workerId: WorkerId): Router | undefined {
    if (this.router.hasWorker(workerId)) return this.router;
    if (this.prefillRouter.hasWorker(workerId)) return this.prefillRouter;
    return undefined;
  }

  hasWorker(workerId: WorkerId): boolean {
    return this.routerOf(workerId) !== undefined;
  }

  /**
   * A worker of this model registered (or changed): into the prefill pool when its card says
   * `modelType: 'prefill'`, else the decode/aggregated pool. Throws RouterConfigError on a block-size mismatch.
   */
  addWorker(workerId: WorkerId, instance: InstanceInfo, card: ModelCard): void {
    const router = isPrefillCard(card) ? this.prefillRouter : this.router;
    router.addWorker({
      workerId,
      blockSize: card.kvCacheBlockSize,
      totalBlocks: card.totalKvBlocks,
      maxNumSeqs: card.maxNumSeqs,
      maxNumBatchedTokens: card.maxNumBatchedTokens,
      address: dialAddress(instance.transport),
      ...(card.stepTiming !== undefined ? { stepTiming: card.stepTiming } : {}),
    });
  }

  /** A worker left. Returns false if it was in neither of this model's pools. */
  removeWorker(workerId: WorkerId): boolean {
    const router = this.routerOf(workerId);
    if (!router) return false;
    router.removeWorker(workerId);
    return true;
  }
}
