/**
 * What a worker writes into discovery, and the order it does so: like registering a backend in Consul with
 * its service entry (how to reach it) and its metadata (what it serves). Both keys hang off the process's
 * lease, so a crash removes them within the TTL; a graceful stop removes them at once.
 *
 *   register:    instance key first, then the model card  (a frontend that sees the model can route to it)
 *   unregister:  model card first, then the instance key  (the model disappears before its last address)
 */
import { hostname } from 'node:os';
import type { EngineCore } from '../engine/index.ts';
import type { InstanceId, InstanceInfo, ModelCard, ModelType } from '../protocols/discovery.ts';
import type { Discovery } from '../runtime/discovery/index.ts';
import { type EndpointId, instanceKey, modelCardKey } from '../runtime/names.ts';
import { readTokenizerFiles } from '../tokens/index.ts';

export function buildInstanceInfo(
  endpoint: EndpointId,
  instanceId: InstanceId,
  address: string,
  systemPort: number | undefined,
): InstanceInfo {
  const info: InstanceInfo = {
    ...endpoint,
    instanceId,
    transport: { tcp: address },
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
  const card: ModelCard = {
    displayName: input.displayName ?? engine.info.name,
    modelType: input.modelType ?? (template !== undefined ? 'chat' : 'completions'),
    tokenizer: { kind: 'model-dir', path: modelDir },
    contextLength: engine.maxModelLen,
    kvCacheBlockSize: engine.kv.blockSize,
    totalKvBlocks: engine.kv.numBlocks,
    maxNumSeqs: engine.scheduler.options.maxNumSeqs,
    maxNumBatchedTokens: engine.scheduler.options.maxNumBatchedTokens,
    eosTokenIds: [...engine.info.eosTokenIds],
  };
  if (template !== undefined) card.chatTemplate = template;
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
  }
}
