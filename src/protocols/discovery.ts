/**
 * Wire types of discovery (docs/design-notes.md#discovery): what a worker writes into the registry so
 * frontends and routers
 * can find it, like a Consul service entry plus its health-checked metadata.
 *
 * Two records per served endpoint, both under the instance's lease (they vanish when the process dies):
 *   /dynamo/v1/instances/{ns}/{component}/{endpoint}/{instanceId} → InstanceInfo (how to reach it)
 *   /dynamo/v1/mdc/{ns}/{component}/{endpoint}/{instanceId}       → ModelCard (what it serves and its limits)
 * The instance id is the hex of the process's lease id (Dynamo's convention), so one process = one id.
 * Plain JSON data; validate with the `is*` guards where it enters a process (a watch event, a list).
 */
import { isStepTimingModel, type StepTimingModel } from './step-timing.ts';

/** Hex of the lease id, lower case, no 0x: "694d9a0c2e3f1b07". One per process. */
export type InstanceId = string;

/**
 * How to reach an instance. `tcp` is the request plane's listen address, "host:port". `unix`, when the
 * worker also listens on a Unix-domain socket: its path and the identity of the host (and namespaces) it
 * is reachable from (util/host-identity.ts); a caller whose identity matches dials the path instead of TCP.
 */
export interface InstanceTransport {
  tcp: string;
  unix?: UnixTransport;
}

export interface UnixTransport {
  /** Absolute path of the socket file. */
  path: string;
  /** `hostIdentity()` of the worker: callers with the same identity can dial `path`. */
  host: string;
}

/** The registry entry of one endpoint of one instance (Dynamo's `{type:"Endpoint", ...}` record). */
export interface InstanceInfo {
  namespace: string;
  component: string;
  endpoint: string;
  instanceId: InstanceId;
  transport: InstanceTransport;
  /** Port of the worker's status server (/health, /metrics), if it runs one. */
  systemPort?: number;
  /** OS process id, for people reading `etcdctl get --prefix /dynamo`. */
  pid?: number;
  hostname?: string;
}

/**
 * chat: serves /v1/chat/completions (has a chat template) and /v1/completions; completions: only
 * /v1/completions; prefill: a disaggregated prefill worker, reached by decode workers, never by users.
 */
export type ModelType = 'chat' | 'completions' | 'prefill';
export const MODEL_TYPES: readonly ModelType[] = ['chat', 'completions', 'prefill'];

/**
 * The tokenizer as a folder path: tokenizer.json, tokenizer_config.json (and chat_template.jinja) read
 * straight from disk. Works only where that path exists: the worker's own machine, a shared filesystem, or
 * one process (embedded `dhw serve`, `--discovery file`). Also what records written before model cards
 * travelled say.
 */
export interface ModelDirSource {
  kind: 'model-dir';
  /** Absolute path, readable by the frontend (same machine or a shared filesystem). */
  path: string;
}

/** The files a card may carry (docs/model-cards.md): what a frontend needs to tokenize and template. */
export const CARD_FILE_NAMES = [
  'tokenizer.json',
  'tokenizer_config.json',
  'chat_template.jinja',
  'chat_template.json',
  'generation_config.json',
] as const;
export type CardFileName = (typeof CARD_FILE_NAMES)[number];

/** One file of a card in the object store: its object name is its file name. */
export interface CardFile {
  name: CardFileName;
  /** `sha256:<64 hex>` of the file's bytes (Dynamo writes `blake3:<hex>`). */
  checksum: string;
  size: number;
}

/**
 * The tokenizer files uploaded to NATS's object store (JetStream Object Store), the way Dynamo's worker
 * `move_to_nats` publishes its model deployment card: bucket = slug of the model name, one object per
 * file. A frontend on any machine fetches them, verifies each checksum and caches them by `mdcsum`.
 */
export interface ObjectStoreSource {
  kind: 'nats-object-store';
  /** Object store bucket (stream `OBJ_{bucket}`): the slug of `displayName`, as Dynamo names it. */
  bucket: string;
  /** `sha256:<hex>` over the display name and the files' names and checksums: the cache key. */
  mdcsum: string;
  files: CardFile[];
  /** The worker's model folder, for people and for the folder-name alias; a frontend never reads it. */
  workerPath?: string;
}

/** Where a frontend loads the tokenizer from. */
export type TokenizerSource = ModelDirSource | ObjectStoreSource;

/** The model deployment card (Dynamo's MDC): what a worker serves, and the limits a router plans with. */
export interface ModelCard {
  /** The OpenAI `model` name clients send. */
  displayName: string;
  modelType: ModelType;
  tokenizer: TokenizerSource;
  /** Jinja chat template, when it differs from the one in the tokenizer source. */
  chatTemplate?: string;
  /** Most tokens (prompt + output) in one sequence. */
  contextLength: number;
  /** Tokens per KV block (all workers of one model must agree, or block hashes will not match). */
  kvCacheBlockSize: number;
  totalKvBlocks: number;
  maxNumSeqs: number;
  maxNumBatchedTokens: number;
  eosTokenIds?: number[];
  /**
   * The worker's step-time model (`step-timing.ts`), when it has one to publish: the mocker's (its data
   * sheet, scaled by its speedup ratio). The router's `kv-delay` prices decode pressure with it; engines
   * that publish none are priced by the prefill rate the router learns from observed first tokens.
   */
  stepTiming?: StepTimingModel;
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);
const isNonEmptyString = (v: unknown): v is string => typeof v === 'string' && v.length > 0;
const isPositiveInt = (v: unknown): v is number => Number.isInteger(v) && (v as number) > 0;
const isOptional = (v: unknown, check: (x: unknown) => boolean) => v === undefined || check(v);

/** "host:port" with a port in 1..65535 (host may be a name, IPv4, or [IPv6]). */
export function isHostPort(value: unknown): value is string {
  if (typeof value !== 'string') return false;
  const match = /^(.+):(\d{1,5})$/.exec(value);
  return match !== null && Number(match[2]) > 0 && Number(match[2]) < 65536;
}

function isUnixTransport(value: unknown): value is UnixTransport {
  return (
    isObject(value) &&
    isNonEmptyString(value.path) &&
    value.path.startsWith('/') &&
    isNonEmptyString(value.host)
  );
}

export function isInstanceInfo(value: unknown): value is InstanceInfo {
  return (
    isObject(value) &&
    isNonEmptyString(value.namespace) &&
    isNonEmptyString(value.component) &&
    isNonEmptyString(value.endpoint) &&
    typeof value.instanceId === 'string' &&
    /^[0-9a-f]+$/.test(value.instanceId) &&
    isObject(value.transport) &&
    isHostPort(value.transport.tcp) &&
    isOptional(value.transport.unix, isUnixTransport) &&
    isOptional(value.systemPort, isPositiveInt) &&
    isOptional(value.pid, isPositiveInt) &&
    isOptional(value.hostname, (h) => typeof h === 'string')
  );
}

export function isModelCard(value: unknown): value is ModelCard {
  return (
    isObject(value) &&
    isNonEmptyString(value.displayName) &&
    (MODEL_TYPES as readonly unknown[]).includes(value.modelType) &&
    isTokenizerSource(value.tokenizer) &&
    isOptional(value.chatTemplate, (t) => typeof t === 'string') &&
    isPositiveInt(value.contextLength) &&
    isPositiveInt(value.kvCacheBlockSize) &&
    isPositiveInt(value.totalKvBlocks) &&
    isPositiveInt(value.maxNumSeqs) &&
    isPositiveInt(value.maxNumBatchedTokens) &&
    isOptional(
      value.eosTokenIds,
      (ids) => Array.isArray(ids) && ids.every((id) => Number.isInteger(id) && id >= 0),
    ) &&
    isOptional(value.stepTiming, isStepTimingModel)
  );
}

const CHECKSUM = /^sha256:[0-9a-f]{64}$/;

/** `sha256:<64 lower-case hex>`, the only checksum form cards use. */
export function isChecksum(value: unknown): value is string {
  return typeof value === 'string' && CHECKSUM.test(value);
}

function isCardFile(value: unknown): value is CardFile {
  return (
    isObject(value) &&
    (CARD_FILE_NAMES as readonly unknown[]).includes(value.name) &&
    isChecksum(value.checksum) &&
    Number.isInteger(value.size) &&
    (value.size as number) >= 0
  );
}

/** A bucket name NATS accepts (it becomes the stream `OBJ_{bucket}`). */
export function isBucketName(value: unknown): value is string {
  return typeof value === 'string' && /^[A-Za-z0-9_-]+$/.test(value);
}

export function isTokenizerSource(value: unknown): value is TokenizerSource {
  if (!isObject(value)) return false;
  if (value.kind === 'model-dir') return isNonEmptyString(value.path);
  if (value.kind !== 'nats-object-store') return false;
  const files = value.files;
  return (
    isBucketName(value.bucket) &&
    isChecksum(value.mdcsum) &&
    Array.isArray(files) &&
    files.every(isCardFile) &&
    files.some((f) => (f as CardFile).name === 'tokenizer.json') &&
    new Set(files.map((f) => (f as CardFile).name)).size === files.length &&
    isOptional(value.workerPath, isNonEmptyString)
  );
}
