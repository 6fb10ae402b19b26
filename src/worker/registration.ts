/**
 * What a worker writes into discovery, and the order it does so: like registering a backend in Consul with
 * its service entry (how to reach it) and its metadata (what it serves). Both keys hang off the process's
 * lease, so a crash removes them within the TTL; a graceful stop removes them at once.
 *
 *   register:    card files to the object store (when the card travels), then the instance key, then the
 *                model card  (a frontend that sees the model can fetch its files and route to it)
 *   unregister:  model card first, then the instance key  (the model disappears before its last address),
 *                then the object store bucket if no registered card names it any more (docs/model-cards.md)
 */
import { hostname } from 'node:os';
import type { EngineCore } from '../engine/index.ts';
import {
  type InstanceId,
  type InstanceInfo,
  isModelCard,
  type ModelCard,
  type ModelType,
  type ObjectStoreSource,
  type TokenizerSource,
} from '../protocols/discovery.ts';
import {
  cardBucketName,
  cardChecksum,
  cardFileEntry,
  type NatsCardStore,
  type PublishResult,
  readCardFiles,
} from '../runtime/card-store/index.ts';
import type { Discovery } from '../runtime/discovery/index.ts';
import { unixTransport } from '../runtime/request-plane/index.ts';
import { type EndpointId, instanceKey, modelCardKey, modelCardsPrefix } from '../runtime/names.ts';
import { readTokenizerFiles } from '../tokens/index.ts';
import type { Logger } from '../util/logger.ts';
import type { StepTimingModel } from '../protocols/step-timing.ts';

export function buildInstanceInfo(
  endpoint: EndpointId,
  instanceId: InstanceId,
  address: string,
  systemPort: number | undefined,
  localAddress?: string,
): InstanceInfo {
  const unix = unixTransport(localAddress);
  const info: InstanceInfo = {
    ...endpoint,
    instanceId,
    transport: unix ? { tcp: address, unix } : { tcp: address },
    pid: process.pid,
    hostname: hostname(),
  };
  if (systemPort !== undefined) info.systemPort = systemPort;
  return info;
}

export interface ModelCardInput {
  engine: EngineCore;
  /** Absolute path of the model folder: the frontend loads tokenizer.json from here (same machine). */
  modelDir: string;
  /** Served name; default the engine's model name. */
  displayName?: string;
  /** Default: 'chat' when the model has a chat template, else 'completions'. */
  modelType?: ModelType;
  /**
   * Where the card's files travel: given, they are uploaded to this object store and the card names
   * them by checksum (any frontend can load them); absent, the card names `modelDir` (same machine only).
   */
  cardStore?: NatsCardStore;
  /** The engine's step-time model, when it has one to publish (the mocker's: `publishedStepTiming`). */
  stepTiming?: StepTimingModel;
  log?: Logger;
}

/**
 * Upload the model folder's card files (Dynamo's `move_to_nats`) and describe them for the card.
 * Idempotent: files already in the bucket with the same checksum are not sent again.
 */
export async function publishCardFiles(
  store: NatsCardStore,
  modelDir: string,
  displayName: string,
): Promise<{ source: ObjectStoreSource; result: PublishResult }> {
  const files = await readCardFiles(modelDir);
  const bucket = cardBucketName(displayName);
  const result = await store.publish(bucket, files);
  const entries = files.map(cardFileEntry);
  const source: ObjectStoreSource = {
    kind: 'nats-object-store',
    bucket,
    mdcsum: cardChecksum(displayName, entries),
    files: entries,
    workerPath: modelDir,
  };
  return { source, result };
}

async function tokenizerSource(input: ModelCardInput, displayName: string): Promise<TokenizerSource> {
  if (!input.cardStore) return { kind: 'model-dir', path: input.modelDir };
  const { source, result } = await publishCardFiles(input.cardStore, input.modelDir, displayName);
  input.log?.info('model card files in the object store', {
    bucket: source.bucket,
    natsServer: input.cardStore.url,
    uploaded: result.uploaded,
    unchanged: result.unchanged,
    mdcsum: source.mdcsum,
  });
  return source;
}

/**
 * The model card from the engine's real limits (its KV pool, scheduler budgets, effective context length)
 * and the model folder's chat template. Fails with the tokenizer loader's message if the folder has no
 * usable tokenizer: a frontend could not serve this worker anyway.
 */
export async function buildModelCard(input: ModelCardInput): Promise<ModelCard> {
  const { engine, modelDir } = input;
  const files = await readTokenizerFiles(modelDir);
  const template = files.chatTemplate.kind === 'template' ? files.chatTemplate.template : undefined;
  const displayName = input.displayName ?? engine.info.name;
  const card: ModelCard = {
    displayName,
    modelType: input.modelType ?? (template !== undefined ? 'chat' : 'completions'),
    tokenizer: await tokenizerSource(input, displayName),
    contextLength: engine.maxModelLen,
    kvCacheBlockSize: engine.kv.blockSize,
    totalKvBlocks: engine.kv.numBlocks,
    maxNumSeqs: engine.scheduler.options.maxNumSeqs,
    maxNumBatchedTokens: engine.scheduler.options.maxNumBatchedTokens,
    eosTokenIds: [...engine.info.eosTokenIds],
  };
  if (template !== undefined) card.chatTemplate = template;
  if (input.stepTiming !== undefined) card.stepTiming = input.stepTiming;
  return card;
}

/** The two keys of one registered endpoint, written and removed in a safe order. */
export class Registration {
  readonly instanceKey: string;
  readonly modelCardKey: string;
  private registered = false;

  constructor(
    private readonly discovery: Discovery,
    readonly instance: InstanceInfo,
    readonly card: ModelCard,
    /** The object store holding the card's files (when they travel): its bucket is cleaned up on stop. */
    private readonly cardStore?: NatsCardStore,
  ) {
    this.instanceKey = instanceKey(instance, instance.instanceId);
    this.modelCardKey = modelCardKey(instance, instance.instanceId);
  }

  async register(): Promise<void> {
    await this.discovery.put(this.instanceKey, this.instance);
    await this.discovery.put(this.modelCardKey, this.card);
    this.registered = true;
  }

  /**
   * The keys are gone without us (the lease was lost or revoked): `unregister` has nothing left to delete,
   * and must not try (discovery may be unreachable, which is why the lease was lost).
   */
  forget(): void {
    this.registered = false;
  }

  /** Delete both keys (idempotent). Errors propagate: the caller decides whether revoking the lease suffices. */
  async unregister(): Promise<void> {
    if (!this.registered) return;
    this.registered = false;
    await this.discovery.delete(this.modelCardKey);
    await this.discovery.delete(this.instanceKey);
    await this.releaseCardFiles();
  }

  /**
   * Dynamo's worker deletes its model's bucket on shutdown (`delete_from_nats`), even while other workers
   * of the model still name it. We delete it only when no card left in discovery (any namespace) names
   * the bucket: the last worker of a model cleans up. Returns whether it deleted the bucket.
   */
  async releaseCardFiles(): Promise<boolean> {
    const source = this.card.tokenizer;
    if (!this.cardStore || source.kind !== 'nats-object-store') return false;
    const cards = await this.discovery.list(modelCardsPrefix());
    const stillNamed = cards.some(
      ({ key, value }) =>
        key !== this.modelCardKey &&
        isModelCard(value) &&
        value.tokenizer.kind === 'nats-object-store' &&
        value.tokenizer.bucket === source.bucket,
    );
    if (stillNamed) return false;
    return this.cardStore.deleteBucket(source.bucket);
  }
}
