/**
 * `--engine llamacpp`: llama.cpp (through node-llama-cpp) computing the steps of our own engine loop.
 * EngineCore keeps what makes a worker a worker — validation, scheduling, KV-block accounting (the KV
 * events `--router kv` routes on), cancellation, load metrics — and LlamaCppExecutor runs each step on a
 * llama.cpp context whose sequences are the KV slots. Any GGUF llama.cpp loads works (Q4_K, Q8_0, F16, our
 * `dhw model convert` exports); node-llama-cpp uses a GPU build where it finds one.
 *
 * Like a hypervisor's paravirtual driver: the guest (our scheduler) sees the same interface as on our own
 * engine; the backend device is someone else's.
 */
import { basename } from 'node:path';
import { EngineCore, kvBytesPerBlock } from '../../engine/index.ts';
import { KvCacheManager } from '../../kv/index.ts';
import type { EngineModelInfo, EngineOutput, EngineRequest } from '../../protocols/engine.ts';
import type { WorkerId } from '../../protocols/ids.ts';
import { DhwError, InvalidRequestError } from '../../util/errors.ts';
import { getLogger } from '../../util/logger.ts';
import { LlamaCppExecutor } from './llama-cpp-executor.ts';
import { type Llama, type LlamaContext, type LlamaModel, loadLlamaCpp } from './llama-cpp-module.ts';

export interface LlamaCppEngineOptions {
  /** The GGUF file llama.cpp loads. */
  ggufFile: string;
  /** Served model name (default: the file name without .gguf). */
  modelName?: string;
  /** Tokens per KV block in our accounting (and in KV events): the router's block size. */
  blockSize?: number;
  /** KV cells of the llama.cpp context, in blocks (default: context length × maxNumSeqs, ≤ 65 536 cells). */
  numKvBlocks?: number;
  /** Concurrent requests = llama.cpp context sequences. */
  maxNumSeqs?: number;
  /** Token budget of one step = llama.cpp's batch size. */
  maxNumBatchedTokens?: number;
  enablePrefixCaching?: boolean;
  threads?: number;
  /** 'auto': a GPU build where node-llama-cpp finds one; false: CPU. */
  gpu?: 'auto' | false;
  kvHoldTimeoutMs?: number;
}

const log = getLogger('worker');

export const LLAMA_CPP_DEFAULTS = {
  blockSize: 16,
  maxNumSeqs: 8,
  maxNumBatchedTokens: 512,
  maxKvCells: 65_536,
} as const;

/** What the GGUF says about the model, through node-llama-cpp's parsed metadata. */
interface GgufFacts {
  name: string;
  contextLength: number;
  vocabSize: number;
  eosTokenIds: number[];
  kvBytesPerToken: number;
}

export class LlamaCppEngine extends EngineCore {
  private constructor(
    options: ConstructorParameters<typeof EngineCore>[0],
    private readonly llama: Llama,
    private readonly model: LlamaModel,
    private readonly context: LlamaContext,
    /** Which llama.cpp backend computes: false = CPU, else 'cuda', 'vulkan', 'metal'. */
    readonly backend: string | false,
  ) {
    super(options);
  }

  static async create(options: LlamaCppEngineOptions, workerId: WorkerId): Promise<LlamaCppEngine> {
    const llama = await loadLlamaCpp({ gpu: options.gpu });
    let model: LlamaModel | undefined;
    try {
      model = await llama.loadModel({ modelPath: options.ggufFile });
      const facts = ggufFacts(model, options);
      const blockSize = options.blockSize ?? LLAMA_CPP_DEFAULTS.blockSize;
      const maxNumSeqs = options.maxNumSeqs ?? LLAMA_CPP_DEFAULTS.maxNumSeqs;
      const maxNumBatchedTokens = options.maxNumBatchedTokens ?? LLAMA_CPP_DEFAULTS.maxNumBatchedTokens;
      const cells =
        options.numKvBlocks !== undefined
          ? options.numKvBlocks * blockSize
          : Math.min(
              facts.contextLength * maxNumSeqs,
              Math.max(facts.contextLength, LLAMA_CPP_DEFAULTS.maxKvCells),
            );
      // llama.cpp's KV is one pool shared by the context's sequences (unified KV), like our block pool.
      const context = await model.createContext({
        contextSize: cells,
        sequences: maxNumSeqs,
        batchSize: maxNumBatchedTokens,
        ...(options.threads === undefined ? {} : { threads: options.threads }),
      });
      const slots = Array.from({ length: maxNumSeqs }, () => context.getSequence());
      log.info('llama.cpp context ready', {
        file: options.ggufFile,
        backend: llama.gpu || 'cpu',
        kvCells: cells,
        sequences: maxNumSeqs,
        batchSize: maxNumBatchedTokens,
      });
      const kv = new KvCacheManager({
        numBlocks: Math.floor(cells / blockSize),
        blockSize,
        enablePrefixCaching: options.enablePrefixCaching ?? true,
      });
      const info: EngineModelInfo = {
        name: facts.name,
        // A free sequence keeps its tokens (prefix reuse) outside our accounting; capping each request at
        // cells / sequences keeps every sequence's tokens together within llama.cpp's cells.
        contextLength: Math.min(facts.contextLength, Math.floor(cells / maxNumSeqs)),
        vocabSize: facts.vocabSize,
        eosTokenIds: facts.eosTokenIds,
      };
      return new LlamaCppEngine(
        {
          info,
          kv,
          executor: new LlamaCppExecutor(slots),
          scheduler: { maxNumSeqs, maxNumBatchedTokens },
          kvBytesPerBlock: kvBytesPerBlock(blockSize, facts.kvBytesPerToken),
          workerId,
          kvHoldTimeoutMs: options.kvHoldTimeoutMs,
        },
        llama,
        model,
        context,
        llama.gpu,
      );
    } catch (error) {
      await model?.dispose();
      await llama.dispose();
      if (error instanceof DhwError) throw error;
      throw new DhwError(`llama.cpp could not load ${options.ggufFile}: ${(error as Error).message}`, {
        cause: error,
      });
    }
  }

  /** Requests llama.cpp's sampler cannot honour here are refused (HTTP 400), never silently ignored. */
  override async *generate(request: EngineRequest, signal?: AbortSignal): AsyncGenerator<EngineOutput> {
    if (request.guidedDecoding !== undefined) {
      throw new InvalidRequestError(
        '--engine llamacpp workers do not support response_format (constrained decoding)',
        'response_format',
      );
    }
    if ((request.sampling.logitBias?.length ?? 0) > 0) {
      throw new InvalidRequestError('--engine llamacpp workers do not support logit_bias', 'logit_bias');
    }
    if (request.logprobs !== undefined) {
      throw new InvalidRequestError('--engine llamacpp workers do not report logprobs', 'logprobs');
    }
    yield* super.generate(request, signal);
  }

  override async close(): Promise<void> {
    await super.close();
    await this.context.dispose();
    await this.model.dispose();
    await this.llama.dispose();
  }
}

function ggufFacts(model: LlamaModel, options: LlamaCppEngineOptions): GgufFacts {
  const metadata = model.fileInfo.metadata as Record<string, Record<string, unknown> | undefined>;
  const general = metadata.general as { architecture?: string; name?: string } | undefined;
  const arch = (general?.architecture ? metadata[general.architecture] : undefined) as
    | {
        block_count?: number;
        embedding_length?: number;
        attention?: { head_count?: number; head_count_kv?: number };
      }
    | undefined;
  const ggml = (
    metadata.tokenizer as
      | { ggml?: { tokens?: unknown[]; eos_token_id?: number; eot_token_id?: number } }
      | undefined
  )?.ggml;
  const vocab = ggml?.tokens;
  if (!Array.isArray(vocab) || vocab.length === 0) {
    throw new DhwError(
      `${options.ggufFile} has no tokenizer.ggml.tokens: llama.cpp needs the vocabulary in the GGUF`,
    );
  }
  // The ids the GGUF names (llama.cpp guesses an end-of-turn id when none is named; we do not).
  const eos = [ggml?.eos_token_id ?? model.tokens.eos, ggml?.eot_token_id].filter(
    (t): t is number => typeof t === 'number',
  );
  const heads = arch?.attention?.head_count ?? 1;
  const kvHeads = arch?.attention?.head_count_kv ?? heads;
  const headDim = (arch?.embedding_length ?? 0) / heads;
  return {
    name: options.modelName ?? basename(options.ggufFile).replace(/\.gguf$/i, ''),
    contextLength: model.trainContextSize,
    vocabSize: vocab.length,
    eosTokenIds: [...new Set(eos.map(Number))],
    // K and V, f16, every layer: llama.cpp's default cache type.
    kvBytesPerToken: 2 * (arch?.block_count ?? 0) * kvHeads * headDim * 2,
  };
}
