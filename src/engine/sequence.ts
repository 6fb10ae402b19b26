/**
 * One request's state inside the engine: its tokens, how many of them already have K/V in the cache, and
 * its place in the scheduler's state machine. Like a TCP connection's control block: the scheduler moves it
 * between queues, the model runner reads its tokens, and it alone decides when it is finished.
 *
 *   waiting ──schedule──► running ──stop/length──► finished
 *    ▲ ▲ │                  │                         ▲
 *    │ └─┼──── preempted ◄──┘                         └── (abort from any state)
 *    │   └─(remote prefill)─► loading ──KV pulled──► running
 *    └────── pull failed ◄──────┘
 *
 * `loading` is vLLM's WAITING_FOR_REMOTE_KVS: a decode-side request (kvTransfer.doRemotePrefill) holds
 * its blocks while a KvConnector copies the prompt's KV into them; it is neither scheduled nor preempted.
 *
 * Token layout:  [ prompt ................ | output ....... ]
 *                  ◄── numComputedTokens ──►                   K/V already in the cache
 *                  ◄ numCachedTokens ►                          of which found in the prefix cache at admission
 *                  [ block 0 | block 1 | ... | partial ]        blockHashes: one per FULL block
 *
 * The sequence owns the facts every other part reads about it, each computed in one place: its block hashes
 * (extended as tokens are appended, like vLLM's `Request.block_hashes`, and read by the prefix-cache lookup
 * and by `cacheBlocks`) and whether it is decoding (`isDecoding`, read by the scheduler's ordering, the
 * step's prefill/decode marks and the load metrics).
 */
import type { HashedTokens } from '../kv/index.ts';
import type {
  FinishReason,
  PromptTokenLogprob,
  SamplingParams,
  StoppingParams,
} from '../protocols/engine.ts';
import type { RequestId } from '../protocols/ids.ts';
import type { KvPushSource, KvTransferParams, KvTransferRequest } from '../protocols/kv-transfer.ts';
import { appendBlockHashes, type BlockHashes } from '../tokens/block-hash.ts';
import { createRng, type Rng } from '../util/prng.ts';
import type { TokenConstraint } from './guided-decoding.ts';

export type SequenceStatus = 'waiting' | 'loading' | 'running' | 'preempted' | 'finished';

export interface SequenceInit {
  requestId: RequestId;
  promptTokenIds: readonly number[];
  sampling: SamplingParams;
  stopping: StoppingParams;
  /** Logprobs wanted for each sampled token (undefined = none, n = plus n alternatives). */
  logprobs?: number;
  /** Score the prompt too, with n alternatives per position (undefined = no). */
  promptLogprobs?: number;
  /** The model's EOS ids: the only stop tokens `ignoreEos` skips (request-added stop ids still stop). */
  eosTokenIds?: readonly number[];
  /** Longest the whole sequence may get (context length, or the KV pool's capacity if smaller). */
  maxModelLen: number;
  /**
   * The KV cache's block size when prefix caching is on: the sequence then hashes each full block of this
   * many tokens, once. Left out, it keeps no hashes (vLLM builds a request's block hasher only for prefix
   * caching too): nothing would read them.
   */
  hashBlockSize?: number;
  /**
   * Disaggregated serving: `doRemoteDecode` keeps the blocks after finishing (held for a decode worker);
   * `doRemotePrefill` pulls the prompt's KV at first admission. The engine passes the latter only when it
   * has a KvConnector.
   */
  kvTransfer?: KvTransferRequest;
}

/** One request in the engine; to the KV cache, a `HashedTokens` (its tokens and its full blocks' hashes). */
export class Sequence implements HashedTokens {
  readonly requestId: RequestId;
  readonly numPromptTokens: number;
  /** Prompt then output: the sequence as the model sees it. Grows only through `appendToken`. */
  readonly tokenIds: readonly number[];
  /** Local and sequence hashes of each full block of `tokenIds`, in order (none without `hashBlockSize`). */
  readonly blockHashes: HashedTokens['blockHashes'];
  readonly hashBlockSize: number | undefined;
  readonly sampling: SamplingParams;
  readonly stopping: StoppingParams;
  readonly logprobs: number | undefined;
  /** Prompt scoring wanted (n alternatives), else undefined. */
  readonly promptLogprobs: number | undefined;
  /**
   * The prompt's scores so far, index = prompt position (null at 0). Filled by the model runner chunk by
   * chunk; complete once it has numPromptTokens entries. A preempted sequence recomputes its prompt but
   * keeps these.
   */
  readonly promptScores: (PromptTokenLogprob | null)[] = [null];
  /** The scores went out with the first output. */
  promptScoresSent = false;
  readonly maxModelLen: number;
  /** This request's own random stream (seeded or not), so batch neighbours never change its draws. */
  readonly rng: Rng;
  status: SequenceStatus = 'waiting';
  /** Tokens whose K/V are in the cache (computed or found in the prefix cache). */
  numComputedTokens = 0;
  /** Prompt tokens served from the prefix cache at first admission (reported to the caller; -1 = not yet). */
  numCachedTokens = -1;
  /** How many times this sequence was preempted (its KV dropped, to be recomputed). */
  numPreemptions = 0;
  /**
   * Engine-clock ms at which it entered the waiting queue and at which a step first scheduled it (NaN: not
   * yet): their difference is its queue time, vLLM's `time_in_queue`.
   */
  queuedAtMs = Number.NaN;
  firstScheduledAtMs = Number.NaN;
  /** The queue time went out with the first output. */
  queueTimeSent = false;
  finishReason: FinishReason | undefined;
  /** A prefill worker's request (doRemoteDecode): finishing leaves its blocks held, not freed. */
  readonly holdKvOnFinish: boolean;
  /**
   * A decode worker's request (doRemotePrefill): where to pull the prompt's KV from. Cleared at first
   * admission, so a preempted or failed-load sequence recomputes locally like any other.
   */
  remotePrefill: KvTransferParams | undefined;
  /** A prefill worker's layer-wise request: the decode worker's agent each finished layer is pushed to. */
  readonly pushTo: string | undefined;
  /**
   * A decode worker's layer-wise request: the prefill worker that pushes the prompt's KV. Cleared at first
   * admission, like `remotePrefill`.
   */
  awaitPush: KvPushSource | undefined;
  /** Constrained decoding: the grammar state (engine-core advances it with each sampled token). */
  constraint: TokenConstraint | undefined;
  /** Constrained decoding: the tokens allowed at the step being executed (set by engine-core before it). */
  tokenMask: Int32Array | undefined;
  private readonly ignoredStopIds: ReadonlySet<number>;
  /** The same array as `tokenIds`, writable here only, so no token is appended without being hashed. */
  private readonly allTokenIds: number[];
  /** The same object as `blockHashes`, extended here only. */
  private readonly hashes: BlockHashes = { local: [], sequence: [] };

  constructor(init: SequenceInit) {
    this.requestId = init.requestId;
    this.allTokenIds = [...init.promptTokenIds];
    this.tokenIds = this.allTokenIds;
    this.blockHashes = this.hashes;
    this.hashBlockSize = init.hashBlockSize;
    this.hashNewFullBlocks();
    this.numPromptTokens = init.promptTokenIds.length;
    this.sampling = init.sampling;
    this.stopping = init.stopping;
    this.logprobs = init.logprobs;
    this.promptLogprobs = init.promptLogprobs;
    this.maxModelLen = init.maxModelLen;
    this.rng = createRng(init.sampling.seed);
    const eos = init.eosTokenIds ?? init.stopping.stopTokenIds;
    this.ignoredStopIds = new Set(init.stopping.ignoreEos ? eos : []);
    const transfer = init.kvTransfer;
    this.holdKvOnFinish = transfer !== undefined && 'doRemoteDecode' in transfer;
    this.remotePrefill =
      transfer !== undefined && 'doRemotePrefill' in transfer ? transfer.doRemotePrefill : undefined;
    this.pushTo = transfer !== undefined && 'pushTo' in transfer ? transfer.pushTo.agent : undefined;
    this.awaitPush = transfer !== undefined && 'awaitKvPush' in transfer ? transfer.awaitKvPush : undefined;
  }

  get numTokens(): number {
    return this.tokenIds.length;
  }

  /** Prompt scoring was asked for and some prompt positions are not scored yet. */
  get needsPromptScores(): boolean {
    return this.promptLogprobs !== undefined && this.promptScores.length < this.numPromptTokens;
  }

  get numOutputTokens(): number {
    return this.tokenIds.length - this.numPromptTokens;
  }

  get promptTokenIds(): number[] {
    return this.tokenIds.slice(0, this.numPromptTokens);
  }

  get outputTokenIds(): number[] {
    return this.tokenIds.slice(this.numPromptTokens);
  }

  get isFinished(): boolean {
    return this.status === 'finished';
  }

  /** Tokens not yet in the cache: the whole prompt at first, 1 while decoding, more after a preemption. */
  get numUncomputedTokens(): number {
    return this.tokenIds.length - this.numComputedTokens;
  }

  /**
   * Decoding: every token but the last sampled one is in the cache, so the next step feeds that one token.
   * vLLM has no single flag; this is two of its tests together: the prompt is done (its model runner's
   * `num_computed_tokens >= num_prompt_tokens`) and one token is left (its attention backends' query
   * length 1, which alone would call a one-token prompt chunk a decode). So a prompt's last chunk of one
   * token is prefill work, and so is the recompute after a preemption until it has caught up. The
   * scheduler orders decodes first by it, marks each step entry with it, and the load metrics count by it.
   */
  get isDecoding(): boolean {
    return this.numComputedTokens >= this.numPromptTokens && this.numUncomputedTokens === 1;
  }

  /** Append a sampled token and decide whether the sequence is done. Returns the finish reason, if any. */
  appendToken(tokenId: number): FinishReason | undefined {
    this.allTokenIds.push(tokenId);
    this.hashNewFullBlocks();
    const reason = this.checkStop(tokenId);
    if (reason) this.finish(reason);
    return reason;
  }

  /**
   * vLLM v1's order: a stop token id (EOS skipped when ignoreEos; none before min_tokens) wins, so an EOS
   * that is also the max_tokens-th token reports 'stop'; then the length cap (max_tokens or the context).
   */
  private checkStop(lastTokenId: number): FinishReason | undefined {
    const stopAllowed = this.numOutputTokens >= (this.stopping.minTokens ?? 0);
    if (
      stopAllowed &&
      this.stopping.stopTokenIds.includes(lastTokenId) &&
      !this.ignoredStopIds.has(lastTokenId)
    ) {
      return 'stop';
    }
    if (this.numOutputTokens >= this.stopping.maxTokens || this.numTokens >= this.maxModelLen)
      return 'length';
    return undefined;
  }

  finish(reason: FinishReason): void {
    this.status = 'finished';
    this.finishReason = reason;
  }

  /** Hash the blocks filled since the last call (at most one per appended token): each block once. */
  private hashNewFullBlocks(): void {
    if (this.hashBlockSize !== undefined)
      appendBlockHashes(this.hashes, this.allTokenIds, this.hashBlockSize);
  }

  /** Drop all computed state (the scheduler freed its blocks); it will recompute prompt + output. */
  preempt(): void {
    this.status = 'preempted';
    this.numComputedTokens = 0;
    this.numPreemptions++;
  }
}
