/**
 * `--engine openai --upstream URL`: any OpenAI-compatible server behind a worker. Our engine loop still
 * schedules and accounts every request (so the worker has the same load metrics, cancellation and KV
 * events as any other), and its executor relays each sequence to the upstream as one streamed
 * `/v1/completions` request: prompt as token ids where the upstream takes them, else as text; the
 * streamed text is tokenized back with the model card's tokenizer, one token per step.
 *
 * KV events are derived from what this worker sent (its own prefix-cache accounting), not read from the
 * upstream: the same prediction kv-approx makes in the router, published, so `--router kv` works
 * (docs/engines.md). Like a reverse proxy that keeps its own connection table for a least-conn balancer.
 */
import { EngineCore } from '../../engine/index.ts';
import { KvCacheManager } from '../../kv/index.ts';
import type { EngineModelInfo, EngineOutput, EngineRequest } from '../../protocols/engine.ts';
import type { RequestId, WorkerId } from '../../protocols/ids.ts';
import { Tokenizer } from '../../tokens/index.ts';
import { DhwError, InvalidRequestError } from '../../util/errors.ts';
import { getLogger } from '../../util/logger.ts';
import {
  listUpstreamModels,
  probePromptFormat,
  type UpstreamPromptFormat,
  upstreamBase,
} from './openai-upstream-client.ts';
import { UpstreamExecutor } from './upstream-executor.ts';

export interface OpenAiUpstreamOptions {
  /** The server: `http://host:8000` (or with `/v1`). */
  upstream: string;
  /** Folder with the model's tokenizer.json: prompts and streamed text go through it. */
  tokenizerDir: string;
  /** Model name at the upstream (default: the first of its /v1/models). */
  upstreamModel?: string;
  /** Name served to our clients (default: the upstream's model name). */
  modelName?: string;
  /** $OPENAI_API_KEY-style bearer token for the upstream. */
  apiKey?: string;
  /** tokens | text (default: probe the upstream once). */
  promptFormat?: UpstreamPromptFormat;
  /** Requests relayed at once (default 64). */
  maxNumSeqs?: number;
  /** Context length when the upstream does not say (`max_model_len`); default 4096. */
  contextLength?: number;
  /** Tokens per block of the derived KV events (the router's block size). */
  blockSize?: number;
  /** Blocks of the accounting pool (default: every sequence at full length, at most 16 384 blocks). */
  numKvBlocks?: number;
  enablePrefixCaching?: boolean;
}

const log = getLogger('worker');

export const UPSTREAM_DEFAULTS = {
  maxNumSeqs: 64,
  contextLength: 4096,
  blockSize: 16,
  maxKvBlocks: 16_384,
} as const;

export class OpenAiUpstreamEngine extends EngineCore {
  private constructor(
    options: ConstructorParameters<typeof EngineCore>[0],
    private readonly relay: UpstreamExecutor,
    /** How prompts travel to the upstream. */
    readonly promptFormat: UpstreamPromptFormat,
  ) {
    super(options);
  }

  static async create(options: OpenAiUpstreamOptions, workerId: WorkerId): Promise<OpenAiUpstreamEngine> {
    const base = upstreamBase(options.upstream);
    const models = await listUpstreamModels(base, options.apiKey);
    const model = pickModel(models, options.upstreamModel, base);
    const tokenizer = await Tokenizer.fromDir(options.tokenizerDir);
    const probe = tokenizer.encode('Hello', { addSpecialTokens: true });
    const promptFormat =
      options.promptFormat ?? (await probePromptFormat(base, model.id, probe, options.apiKey));
    log.info('relaying to the upstream', {
      base,
      model: model.id,
      promptFormat,
      maxModelLen: model.maxModelLen,
    });
    const blockSize = options.blockSize ?? UPSTREAM_DEFAULTS.blockSize;
    const maxNumSeqs = options.maxNumSeqs ?? UPSTREAM_DEFAULTS.maxNumSeqs;
    const contextLength = model.maxModelLen ?? options.contextLength ?? UPSTREAM_DEFAULTS.contextLength;
    const eosTokenIds = tokenizer.eosTokenIds;
    const info: EngineModelInfo = {
      name: options.modelName ?? model.id,
      contextLength,
      vocabSize: tokenizer.vocabSize,
      eosTokenIds,
    };
    // The relay aborts a request whose upstream failed; the engine it aborts in is built next.
    let engine: OpenAiUpstreamEngine | undefined;
    const relay = new UpstreamExecutor(
      {
        base,
        model: model.id,
        apiKey: options.apiKey,
        promptFormat,
        tokenizer,
        endTokenId: eosTokenIds[0] ?? 0,
      },
      (requestId) => engine?.abort(requestId),
    );
    // The pool stands for what the upstream holds for our requests: every sequence at full length, capped
    // like the mocker's default pool (the accounting costs memory per block). Running out preempts a
    // sequence: its upstream request is closed and reopened later with everything it has so far.
    const kv = new KvCacheManager({
      numBlocks:
        options.numKvBlocks ??
        Math.min(Math.ceil((contextLength * maxNumSeqs) / blockSize), UPSTREAM_DEFAULTS.maxKvBlocks),
      blockSize,
      enablePrefixCaching: options.enablePrefixCaching ?? true,
    });
    engine = new OpenAiUpstreamEngine(
      {
        info,
        kv,
        executor: relay,
        // The upstream prefills a whole prompt in one request: one step takes every prompt.
        scheduler: { maxNumSeqs, maxNumBatchedTokens: contextLength * maxNumSeqs },
        kvBytesPerBlock: 0,
        workerId,
      },
      relay,
      promptFormat,
    );
    return engine;
  }

  /** Upstream features the relay does not carry are refused (HTTP 400), never silently dropped. */
  override async *generate(request: EngineRequest, signal?: AbortSignal): AsyncGenerator<EngineOutput> {
    if (request.guidedDecoding !== undefined) {
      throw new InvalidRequestError(
        '--engine openai workers do not relay response_format',
        'response_format',
      );
    }
    if (request.logprobs !== undefined) {
      throw new InvalidRequestError('--engine openai workers do not relay logprobs', 'logprobs');
    }
    let admitted = false; // past validation: a refused duplicate id must not touch the request it duplicates
    try {
      for await (const output of super.generate(request, signal)) {
        admitted = true;
        yield output;
      }
    } finally {
      // Finished by our own stop conditions (a stop token the upstream was not told of), or abandoned: the
      // upstream request goes now, not at the next engine step. (Aborts before a token: `abort` below.)
      if (admitted) this.relay.cancel(request.requestId);
    }
  }

  /** A cancelled request's upstream request is aborted at once, not at the next step. */
  override abort(requestId: RequestId): void {
    super.abort(requestId);
    this.relay.cancel(requestId);
  }

  override async close(): Promise<void> {
    await super.close();
    this.relay.cancelAll();
  }
}

function pickModel(
  models: Array<{ id: string; maxModelLen?: number }>,
  wanted: string | undefined,
  base: string,
): { id: string; maxModelLen?: number } {
  const names = models.map((m) => m.id).join(', ') || 'none';
  if (wanted === undefined) {
    const first = models[0];
    if (!first) throw new DhwError(`the upstream at ${base} serves no model yet (/v1/models is empty)`);
    return first;
  }
  const found = models.find((m) => m.id === wanted);
  if (!found)
    throw new DhwError(
      `the upstream at ${base} does not serve ${wanted} (it serves: ${names}); fix --upstream-model`,
    );
  return found;
}
