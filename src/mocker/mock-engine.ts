/**
 * MockEngine: Dynamo's mocker. The same KvCacheManager, Scheduler and engine loop as LlmEngine, so its KV
 * events, prefix-cache hits, preemptions and load metrics are real; only the forward pass is replaced by a
 * timing model and pseudo-tokens. Like a traffic generator's simulated server: the router cannot tell it
 * from a real worker, and 32 of them fit in one small process.
 */
import {
  type Clock,
  EngineCore,
  type EngineCoreOptions,
  type KvConnector,
  kvBytesPerBlock,
  realClock,
} from '../engine/index.ts';
import { KvCacheManager } from '../kv/index.ts';
import type { EngineModelInfo } from '../protocols/engine.ts';
import { asWorkerId, type WorkerId } from '../protocols/ids.ts';
import type { KvEventSink } from '../protocols/kv-events.ts';
import { MockExecutor } from './mock-executor.ts';

export interface MockEngineOptions {
  /** Model name served (default "mock-model"). */
  modelName?: string;
  vocabSize?: number;
  contextLength?: number;
  eosTokenIds?: number[];
  /** KV pool size in blocks (Dynamo's mocker default 16384). */
  numKvBlocks?: number;
  blockSize?: number;
  maxNumSeqs?: number;
  maxNumBatchedTokens?: number;
  enablePrefixCaching?: boolean;
  /** Simulated-time divisor: 1 = the fitted GPU's speed, 10 = ten times faster, 0 = no sleeping. */
  speedupRatio?: number;
  /** Clock to sleep on; a VirtualClock makes replays run in simulated time. */
  clock?: Clock;
  /** Per-token chance of ending with EOS (default 0: requests run to max_tokens). */
  eosProbability?: number;
  /** Bytes of KV per token, for the KV-bytes figure in step traces (default: Llama-3-8B in bf16). */
  kvBytesPerToken?: number;
  events?: KvEventSink;
  workerId?: WorkerId | string;
  /**
   * Pulls a decode-side request's prompt KV (or later: `setKvConnector`); the mocker's own is
   * SimulatedKvConnector, which only charges the link's time.
   */
  kvConnector?: KvConnector;
  /** How long a finished prefill request's blocks are held for its decode worker (default 30 000 ms). */
  kvHoldTimeoutMs?: number;
}

export const MOCKER_DEFAULTS = {
  modelName: 'mock-model',
  vocabSize: 32_000,
  contextLength: 8192,
  eosTokenIds: [2],
  numKvBlocks: 16_384,
  blockSize: 16,
  maxNumSeqs: 256,
  maxNumBatchedTokens: 8192,
  enablePrefixCaching: true,
  speedupRatio: 1,
  eosProbability: 0,
  kvBytesPerToken: 131_072, // 32 layers × 8 KV heads × 128 dims × (K+V) × 2 bytes
} as const;

/** EngineCore with the timing model as its executor: nothing else differs from the real engine. */
export class MockEngine extends EngineCore {
  constructor(opts: MockEngineOptions = {}) {
    super(mockCoreOptions(opts));
  }
}

/** The real KV cache manager and scheduler loop, with the timing model as the step executor. */
function mockCoreOptions(opts: MockEngineOptions): EngineCoreOptions {
  const o = { ...MOCKER_DEFAULTS, ...stripUndefined(opts) };
  const kv = new KvCacheManager({
    numBlocks: o.numKvBlocks,
    blockSize: o.blockSize,
    enablePrefixCaching: o.enablePrefixCaching,
    events: opts.events,
  });
  const clock = opts.clock ?? realClock;
  const info: EngineModelInfo = {
    name: o.modelName,
    contextLength: o.contextLength,
    vocabSize: o.vocabSize,
    eosTokenIds: [...o.eosTokenIds],
  };
  const executor = new MockExecutor({
    vocabSize: o.vocabSize,
    eosTokenIds: o.eosTokenIds,
    eosProbability: o.eosProbability,
    speedupRatio: o.speedupRatio,
    clock,
    kvUsage: () => kv.usage(),
  });
  return {
    info,
    kv,
    executor,
    scheduler: { maxNumSeqs: o.maxNumSeqs, maxNumBatchedTokens: o.maxNumBatchedTokens },
    kvBytesPerBlock: kvBytesPerBlock(o.blockSize, o.kvBytesPerToken),
    workerId: asWorkerId(opts.workerId ?? 'mocker'),
    clock,
    kvConnector: opts.kvConnector,
    kvHoldTimeoutMs: opts.kvHoldTimeoutMs,
  };
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
