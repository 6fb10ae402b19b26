/**
 * TpLlmEngine: the real backend with its model split over `tensorParallelSize` ranks (model/parallel/).
 * The scheduler and the KV cache manager are unchanged and see ONE logical cache: block ids mean the same
 * on every rank, each rank stores its KV heads of every block. This engine's thread is rank 0; each step
 * its executor hands the batch to the group (`TensorParallelGroup.forward`, async: the ranks answer over
 * shared memory or TCP) and samples rank 0's logits, like the ModelRunner does for one rank.
 *
 * Like a primary that replicates each command to its followers before answering: one request plane, one
 * registration, one KV event stream (rank 0's), N processes or threads behind it.
 */
import { availableParallelism } from 'node:os';
import { basename } from 'node:path';
import { KvCacheManager } from '../kv/index.ts';
import {
  type AllReduceStats,
  type KvCacheTensors,
  kvBytesPerToken,
  checkTensorParallelSize,
  loadModelConfig,
  TensorParallelGroup,
} from '../model/index.ts';
import type { EngineModelInfo } from '../protocols/engine.ts';
import { asWorkerId } from '../protocols/ids.ts';
import { getLogger } from '../util/logger.ts';
import { EngineCore, type EngineCoreOptions } from './engine-core.ts';
import { kvBytesPerBlock, numKvBlocksFor } from './kv-sizing.ts';
import { ENGINE_DEFAULTS, type EngineOptions, LlmEngine } from './llm-engine.ts';
import {
  type BlockTableLookup,
  buildForwardBatch,
  type StepExecutor,
  sampleSequence,
} from './model-runner.ts';
import type { SampleResult } from './sampler.ts';
import type { SchedulerOutput } from './scheduler.ts';
import { type LocalRanks, spawnLocalTpRanks } from './tp-local-ranks.ts';

const log = getLogger('engine');

/** The engine `opts` ask for: an LlmEngine, or a TpLlmEngine when `tensorParallelSize` > 1. */
export async function createScratchEngine(opts: EngineOptions): Promise<EngineCore> {
  return (opts.tensorParallelSize ?? 1) > 1 ? TpLlmEngine.create(opts) : LlmEngine.create(opts);
}

/** Kernel threads of each rank: `--threads`, else the cores shared out between the ranks. */
function threadsPerRank(opts: EngineOptions, size: number): number {
  return opts.threads ?? Math.max(1, Math.floor(availableParallelism() / size));
}

/** Forward on every rank, then sample rank 0's logits (the ModelRunner's job for a group). */
export class TensorParallelRunner implements StepExecutor {
  constructor(
    private readonly group: TensorParallelGroup,
    readonly kvTensors: KvCacheTensors,
    private readonly blockTable: BlockTableLookup,
    readonly vocabSize: number,
  ) {}

  async execute(output: SchedulerOutput): Promise<Array<SampleResult | undefined>> {
    const batch = buildForwardBatch(output, this.blockTable, this.kvTensors.blockSize);
    const logits = await this.group.forward(batch, this.kvTensors);
    const vocab = this.vocabSize;
    let j = 0;
    return output.scheduled.map(({ seq, sample }) => {
      if (!sample) return undefined;
      const row = logits.subarray(j * vocab, (j + 1) * vocab);
      j++;
      return sampleSequence(seq, row);
    });
  }
}

export class TpLlmEngine extends EngineCore {
  private constructor(
    readonly group: TensorParallelGroup,
    /** Rank 0's shard of the KV cache (its KV heads of every block). */
    readonly kvTensors: KvCacheTensors,
    /** Rank processes this engine started ('tcp' without peers), else null. */
    readonly localRanks: LocalRanks | null,
    core: EngineCoreOptions,
  ) {
    super(core);
  }

  static async create(opts: EngineOptions): Promise<TpLlmEngine> {
    const size = opts.tensorParallelSize ?? 1;
    if (opts.kvConnector)
      throw new RangeError(
        'disaggregated serving with --tensor-parallel-size > 1 is not supported: the transfer agent ' +
          'registers one KV tensor per layer, a TP worker has one shard per rank. Use --role aggregated.',
      );
    if ((opts.pipelineParallelSize ?? 1) > 1)
      throw new RangeError(
        '--tensor-parallel-size > 1 with --pipeline-parallel-size > 1 is not supported yet: use one of them',
      );
    checkTensorParallelSize(loadModelConfig(opts.modelDir), size); // before any thread or process starts
    const transport = opts.tpTransport ?? 'threads';
    const threads = threadsPerRank(opts, size);
    const kernelOptions = { threads, weightDtype: opts.weightDtype };
    let localRanks: LocalRanks | null = null;
    let peers = opts.tpPeers;
    if (transport === 'tcp' && !peers) {
      localRanks = await spawnLocalTpRanks({
        modelDir: opts.modelDir,
        size,
        threads,
        weightDtype: opts.weightDtype,
        timeoutMs: opts.tpTimeoutMs,
      });
      peers = localRanks.peers;
    }
    let group: TensorParallelGroup;
    try {
      group = await TensorParallelGroup.start({
        dir: opts.modelDir,
        size,
        transport,
        peers,
        bindHost: opts.tpBindHost,
        timeoutMs: opts.tpTimeoutMs,
        kernelOptions,
      });
    } catch (err) {
      await localRanks?.stop();
      const gone = localRanks?.exited() ?? [];
      if (gone.length) throw new Error(`${(err as Error).message} (${gone.join('; ')})`);
      throw err;
    }
    try {
      return TpLlmEngine.assemble(opts, group, localRanks);
    } catch (err) {
      await group.close();
      await localRanks?.stop();
      throw err;
    }
  }

  /** The engine around a started group: KV sizing (per rank), the logical cache, the async runner. */
  private static assemble(
    opts: EngineOptions,
    group: TensorParallelGroup,
    localRanks: LocalRanks | null,
  ): TpLlmEngine {
    const config = group.config;
    const local = group.rank0.local;
    const size = group.size;
    const transport = group.transport;
    const threads = threadsPerRank(opts, size);
    const blockSize = opts.blockSize ?? ENGINE_DEFAULTS.blockSize;
    const maxNumSeqs = opts.maxNumSeqs ?? ENGINE_DEFAULTS.maxNumSeqs;
    // Sized per rank, like vLLM's per-GPU memory budget: each rank stores only its KV heads.
    const bytesPerToken = kvBytesPerToken(local.numLayers, local.numKvHeads, local.headDim);
    const numBlocks = numKvBlocksFor({
      blockSize,
      bytesPerToken,
      numKvBlocks: opts.numKvBlocks,
      kvCacheMemoryBytes: opts.kvCacheMemoryBytes,
      maxUsefulTokens: maxNumSeqs * config.maxPositionEmbeddings,
    });
    const kv = new KvCacheManager({
      numBlocks,
      blockSize,
      enablePrefixCaching: opts.enablePrefixCaching ?? ENGINE_DEFAULTS.enablePrefixCaching,
      events: opts.events,
    });
    const kvTensors = group.allocateKvCache(numBlocks, blockSize);
    const runner = new TensorParallelRunner(group, kvTensors, (id) => kv.getBlockTable(id), config.vocabSize);
    const info: EngineModelInfo = {
      name: opts.modelName ?? basename(opts.modelDir),
      contextLength: config.maxPositionEmbeddings,
      vocabSize: config.vocabSize,
      eosTokenIds: [...config.eosTokenIds],
    };
    const engine = new TpLlmEngine(group, kvTensors, localRanks, {
      info,
      kv,
      executor: runner,
      scheduler: {
        maxNumSeqs,
        maxNumBatchedTokens: opts.maxNumBatchedTokens ?? ENGINE_DEFAULTS.maxNumBatchedTokens,
      },
      kvBytesPerBlock: kvBytesPerBlock(blockSize, bytesPerToken),
      workerId: asWorkerId(opts.workerId ?? 'local'),
      kvHoldTimeoutMs: opts.kvHoldTimeoutMs,
    });
    log.info('tensor-parallel engine ready', {
      model: info.name,
      tensorParallelSize: size,
      transport,
      threadsPerRank: threads,
      kvBlocks: numBlocks,
      kvBytesPerRank: numBlocks * kvBytesPerBlock(blockSize, bytesPerToken),
      maxModelLen: engine.maxModelLen,
    });
    return engine;
  }

  /** Rank 0's all-reduce counters: calls, bytes summed, bytes sent, time inside. */
  commStats(): AllReduceStats {
    return this.group.commStats();
  }

  override async close(): Promise<void> {
    await super.close();
    await this.group.close();
    await this.localRanks?.stop();
  }
}
