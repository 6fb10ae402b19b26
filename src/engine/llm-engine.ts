/**
 * LlmEngine: the real backend. Loads a checkpoint, sizes and allocates the paged KV cache, and serves many
 * concurrent token-id requests through one batched step loop (EngineCore + ModelRunner). Like an
 * application server's worker process: callers hand it requests, it multiplexes them onto one CPU-bound
 * resource (the forward pass), and streams each caller its own results.
 *
 *   generate(req) ─► Sequence ─► Scheduler ─► ModelRunner.forward + sample ─► EngineOutput per token
 *                                   │
 *                               KvCacheManager (block tables, prefix cache, KV events)
 */
import { availableParallelism } from 'node:os';
import { basename } from 'node:path';
import { KvCacheManager } from '../kv/index.ts';
import {
  type KvCacheTensors,
  kvBytesPerToken,
  LlamaModel,
  loadModelConfig,
  type ModelOptions,
  type PeerAddress,
  splitLayers,
  type TpTransport,
} from '../model/index.ts';
import type { EngineModelInfo } from '../protocols/engine.ts';
import { asWorkerId, type WorkerId } from '../protocols/ids.ts';
import type { KvEventSink } from '../protocols/kv-events.ts';
import { getLogger } from '../util/logger.ts';
import { EngineCore, type EngineCoreOptions } from './engine-core.ts';
import type { KvConnector } from './kv-connector.ts';
import { kvBytesPerBlock, numKvBlocksFor } from './kv-sizing.ts';
import { ModelRunner, type StepExecutor } from './model-runner.ts';
import type { PipelineExecutor } from './pipeline/pipeline-executor.ts';
import { startPipeline } from './pipeline/start-pipeline.ts';

const log = getLogger('engine');

export interface EngineOptions {
  /** Checkpoint folder (config.json, model.safetensors, ...). */
  modelDir: string;
  /** Name served to clients (default: the folder's name). */
  modelName?: string;
  /** Tokens per KV block (default 16). */
  blockSize?: number;
  /** KV cache size as a block count (`--num-kv-blocks`); wins over kvCacheMemoryBytes. */
  numKvBlocks?: number;
  /** KV cache size as a byte budget (`--kv-cache-memory`). */
  kvCacheMemoryBytes?: number;
  /** Most sequences running at once (default 64). */
  maxNumSeqs?: number;
  /** Token budget of one forward pass (default 2048). */
  maxNumBatchedTokens?: number;
  /** Reuse KV of shared prompt prefixes (default true). */
  enablePrefixCaching?: boolean;
  /** Receives KV cache events (stored / removed / cleared). */
  events?: KvEventSink;
  /** Threads computing matmuls, this one included (`--threads`; default: the core count). */
  threads?: number;
  /** Weight storage (`--weight-dtype`): 'f32' (default, exact) or 'q8_0' (int8 blocks, ~4x smaller). */
  weightDtype?: ModelOptions['weightDtype'];
  /** Fused multiply-add matmul kernels (`--relaxed-simd`): faster prefill, logits differ in the last bits. */
  relaxedSimd?: boolean;
  /** Called as the checkpoint is read (bytes done of total): the CLI's load progress bar. */
  onLoadProgress?: ModelOptions['onLoadProgress'];
  /** Identifies this engine in load metrics and in the KV hand-offs it holds (default "local"). */
  workerId?: WorkerId | string;
  /** Pulls a decode-side request's prompt KV from its prefill worker (or later: `setKvConnector`). */
  kvConnector?: KvConnector;
  /** How long a finished prefill request's blocks are held for its decode worker (default 30 000 ms). */
  kvHoldTimeoutMs?: number;
  /** Tensor-parallel ranks (`--tensor-parallel-size`, default 1); above 1 use `createScratchEngine` (tp-engine.ts). */
  tensorParallelSize?: number;
  /** How the ranks talk (`--tp-transport`): 'threads' (default, shared memory) or 'tcp' (processes, ring). */
  tpTransport?: TpTransport;
  /** 'tcp': every rank's HOST:PORT, rank 0 (this engine) first (`--tp-peers`); none: local rank processes. */
  tpPeers?: PeerAddress[];
  /** 'tcp': the address rank 0 binds (`--tp-host`; default: its own peers entry's host). */
  tpBindHost?: string;
  /** How long a rank may keep the others waiting before the group fails (`--tp-timeout`, default 30 000 ms). */
  tpTimeoutMs?: number;
  /**
   * Pipeline stages (`--pipeline-parallel-size`, default 1): the layers split over this process (stage 0)
   * and numStages−1 stage processes, spawned here unless `pipelineStageAddresses` names running ones.
   */
  pipelineParallelSize?: number;
  /** Micro-batches per step (`--pipeline-micro-batches`; default: the stage count). */
  pipelineMicroBatches?: number;
  /** `host:port` of stages 1..p−1 started with `dhw worker --pipeline-stage K` (other hosts). */
  pipelineStageAddresses?: string[];
}

export const ENGINE_DEFAULTS = {
  blockSize: 16,
  maxNumSeqs: 64,
  maxNumBatchedTokens: 2048,
  enablePrefixCaching: true,
} as const;

/** EngineCore with the model runner as its executor; it also owns the loaded model (and its threads). */
export class LlmEngine extends EngineCore {
  private constructor(
    readonly model: LlamaModel,
    /**
     * The paged KV cache's memory (block ids from `kv` index it): the worker registers it with its
     * transfer agent so a decode worker can read a held prefill's blocks straight out of it.
     */
    readonly kvTensors: KvCacheTensors,
    core: EngineCoreOptions,
    /** The stage processes' driver when the model is split into pipeline stages (else null). */
    readonly pipeline: PipelineExecutor | null,
  ) {
    super(core);
  }

  static async create(opts: EngineOptions): Promise<LlmEngine> {
    if ((opts.tensorParallelSize ?? 1) > 1)
      throw new RangeError(
        'LlmEngine runs one rank: build a tensor-parallel engine with createScratchEngine',
      );
    const numStages = opts.pipelineParallelSize ?? 1;
    // Pipeline stages share the cores: by default each process gets its share of them.
    const threads =
      opts.threads ??
      (numStages > 1 ? Math.max(1, Math.floor(availableParallelism() / numStages)) : undefined);
    const part =
      numStages > 1 ? splitLayers(loadModelConfig(opts.modelDir).numLayers, numStages)[0] : undefined;
    const model = await LlamaModel.load(opts.modelDir, {
      threads,
      weightDtype: opts.weightDtype,
      relaxedSimd: opts.relaxedSimd,
      onLoadProgress: opts.onLoadProgress,
      part,
    });
    const c = model.config;
    const blockSize = opts.blockSize ?? ENGINE_DEFAULTS.blockSize;
    const maxNumSeqs = opts.maxNumSeqs ?? ENGINE_DEFAULTS.maxNumSeqs;
    const bytesPerToken = kvBytesPerToken(c.numLayers, c.numKvHeads, c.headDim);
    const numBlocks = numKvBlocksFor({
      blockSize,
      bytesPerToken,
      numKvBlocks: opts.numKvBlocks,
      kvCacheMemoryBytes: opts.kvCacheMemoryBytes,
      maxUsefulTokens: maxNumSeqs * c.maxPositionEmbeddings,
    });
    const kv = new KvCacheManager({
      numBlocks,
      blockSize,
      enablePrefixCaching: opts.enablePrefixCaching ?? ENGINE_DEFAULTS.enablePrefixCaching,
      events: opts.events,
    });
    // The cache lives beside the weights in the kernels' shared memory, so attention runs in WASM too.
    // With pipeline stages, this is stage 0's layers only; each stage holds its own layers' blocks.
    const kvTensors = model.allocateKvCache(numBlocks, blockSize);
    const blockTable = (id: Parameters<KvCacheManager['getBlockTable']>[0]) => kv.getBlockTable(id);
    let pipeline: PipelineExecutor | null = null;
    if (numStages > 1) {
      const spec = {
        modelDir: opts.modelDir,
        numStages,
        microBatches: opts.pipelineMicroBatches,
        stageAddresses: opts.pipelineStageAddresses,
        threads,
        weightDtype: opts.weightDtype,
      };
      try {
        pipeline = await startPipeline(spec, { model, kvTensors, blockTable, vocabSize: c.vocabSize });
      } catch (err) {
        await model.close();
        throw err;
      }
    }
    const runner: StepExecutor =
      pipeline ??
      new ModelRunner(
        (batch, tensors, onLayerDone) => model.forward(batch, tensors, undefined, onLayerDone),
        kvTensors,
        blockTable,
        c.vocabSize,
      );
    const info: EngineModelInfo = {
      name: opts.modelName ?? basename(model.dir),
      contextLength: c.maxPositionEmbeddings,
      vocabSize: c.vocabSize,
      eosTokenIds: [...c.eosTokenIds],
    };
    const engine = new LlmEngine(
      model,
      kvTensors,
      {
        info,
        kv,
        executor: runner,
        scheduler: {
          maxNumSeqs,
          maxNumBatchedTokens: opts.maxNumBatchedTokens ?? ENGINE_DEFAULTS.maxNumBatchedTokens,
        },
        kvBytesPerBlock: kvBytesPerBlock(blockSize, bytesPerToken),
        workerId: asWorkerId(opts.workerId ?? 'local'),
        kvConnector: opts.kvConnector,
        kvHoldTimeoutMs: opts.kvHoldTimeoutMs,
      },
      pipeline,
    );
    log.info('engine ready', {
      model: info.name,
      kvBlocks: numBlocks,
      blockSize,
      kvBytes: numBlocks * kvBytesPerBlock(blockSize, bytesPerToken),
      maxModelLen: engine.maxModelLen,
      ...(pipeline ? { pipelineStages: numStages } : {}),
    });
    return engine;
  }

  /** Stop the step loop, then the pipeline's stage processes, then the model's kernel threads. */
  override async close(): Promise<void> {
    await super.close();
    await this.pipeline?.close();
    await this.model.close();
  }
}
