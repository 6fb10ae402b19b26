/**
 * The contract between whoever sends work (CLI, HTTP server, later the frontend over the network) and an
 * engine (our Llama engine or the mocker). Engines take token ids and yield token ids: text, chat templates
 * and stop strings are the caller's business, as in Dynamo where the frontend tokenizes and detokenizes.
 */
import type { RequestId } from './ids.ts';
import {
  explainKvTransferParams,
  explainKvTransferRequest,
  type KvTransferParams,
  type KvTransferRequest,
} from './kv-transfer.ts';

/** How to pick the next token from the model's scores. Field names follow vLLM's SamplingParams. */
export interface SamplingParams {
  /** 0 = greedy (argmax). */
  temperature: number;
  /** Keep the smallest set of tokens whose probability adds up to top_p (1 = off). */
  topP: number;
  /** Keep the k most likely tokens (0 or -1 = off). */
  topK: number;
  /** Drop tokens less likely than min_p × the most likely one (0 = off). */
  minP: number;
  /** Same seed and same request → same output. Undefined = nondeterministic. */
  seed?: number;
  /** >1 discourages tokens already in the prompt or output (multiplicative, HF/vLLM style). 1 = off. */
  repetitionPenalty: number;
  /** Subtracted once from the logit of any token already generated (OpenAI style). */
  presencePenalty: number;
  /** Subtracted per occurrence from the logit of tokens already generated (OpenAI style). */
  frequencyPenalty: number;
  /** OpenAI's logit_bias: [token id, bias] pairs added to those tokens' logits before sampling. */
  logitBias?: [number, number][];
}

/** When a sequence is finished. Stop *strings* are checked by the caller on detokenized text. */
export interface StoppingParams {
  /** Most tokens to generate. */
  maxTokens: number;
  /** Token ids that end the sequence (the model's EOS ids plus any the request adds). */
  stopTokenIds: number[];
  /** Keep going past EOS (benchmarks). */
  ignoreEos: boolean;
  /** Generate at least this many tokens before EOS may stop the sequence. */
  minTokens?: number;
}

export const DEFAULT_SAMPLING: SamplingParams = {
  temperature: 1,
  topP: 1,
  topK: 0,
  minP: 0,
  repetitionPenalty: 1,
  presencePenalty: 0,
  frequencyPenalty: 0,
};

/**
 * Constrained decoding: the output must be JSON matching `schema` (a JSON Schema, as text; `{"type":
 * "object"}` for "any JSON object"). A migrated request's continuation lists the tokens already generated
 * (now the end of its prompt) in `acceptedTokenIds`, so the grammar resumes where it was.
 */
export interface GuidedDecodingSpec {
  schema: string;
  acceptedTokenIds?: number[];
}

export interface EngineRequest {
  requestId: RequestId;
  promptTokenIds: number[];
  sampling: SamplingParams;
  stopping: StoppingParams;
  /** Return the log-probability of each sampled token and this many top alternatives (undefined = none). */
  logprobs?: number;
  /**
   * Also score the prompt (vLLM's `prompt_logprobs`; OpenAI's `echo` + `logprobs`): the log-probability of
   * each prompt token given the ones before it, with this many top alternatives. The prompt is then
   * computed whole (no prefix-cache hits: a cached block has no logits). Engines without logits refuse it.
   */
  promptLogprobs?: number;
  /**
   * Routing hint: requests with the same session id belong to one conversation or user (OpenAI's `user`
   * field or the `x-session-id` header). Routers may use it for affinity; engines ignore it.
   */
  sessionId?: string;
  /**
   * Disaggregated serving (protocols/kv-transfer.ts): "prefill and hold the blocks" on a prefill worker,
   * "pull the prompt's KV, then decode" on a decode worker. Absent = aggregated: prefill and decode here.
   */
  kvTransfer?: KvTransferRequest;
  /** Constrain the output to JSON (matching a schema); absent = free text. */
  guidedDecoding?: GuidedDecodingSpec;
}

/** Why a request ended: a stop token or string, max_tokens, the caller's cancel, or an engine failure. */
export const FINISH_REASONS = ['stop', 'length', 'abort', 'error'] as const;
export type FinishReason = (typeof FINISH_REASONS)[number];

export function isFinishReason(value: unknown): value is FinishReason {
  return (FINISH_REASONS as readonly unknown[]).includes(value);
}

export interface TokenLogprob {
  tokenId: number;
  logprob: number;
}

/** One prompt position's score: its token's log-probability given the tokens before it, and the top n. */
export interface PromptTokenLogprob {
  tokenId: number;
  logprob: number;
  /** 1 + how many tokens the model found more likely at this position. */
  rank: number;
  topLogprobs: TokenLogprob[];
}

/** One step's result for one request: normally one new token. */
export interface EngineOutput {
  requestId: RequestId;
  tokenId: number;
  /** log-probability of tokenId, and the top-n alternatives, when the request asked for logprobs. */
  logprob?: number;
  topLogprobs?: TokenLogprob[];
  /**
   * On the first output of a `promptLogprobs` request: one entry per prompt token, null for the first
   * (nothing comes before it), as vLLM returns them.
   */
  promptLogprobs?: (PromptTokenLogprob | null)[];
  /** Set on the last output of a request. */
  finishReason?: FinishReason;
  /**
   * Prompt tokens this engine did not compute: its prefix-cache hits, plus (on a decode worker) the
   * tokens whose KV it read from the prefill worker.
   */
  numCachedTokens: number;
  /**
   * On the first output: ms the request waited in the engine's queue before a step first scheduled it
   * (vLLM's `time_in_queue`), on the engine's clock. The rest of its time to first token is its prefill
   * steps. Absent from engines that do not measure it.
   */
  queueMs?: number;
  /** On the last output of a `doRemoteDecode` request: where its KV is held for the decode worker. */
  kvTransferParams?: KvTransferParams;
}

export interface EngineModelInfo {
  /** Model name as served (e.g. "fortune-llama"). */
  name: string;
  contextLength: number;
  vocabSize: number;
  eosTokenIds: number[];
}

/** How the caller will use a generation's outputs; hints an engine may ignore. */
export interface GenerateOptions {
  /**
   * The caller uses the outputs only once the request has finished (a non-streaming HTTP response): a
   * remote engine may deliver the outputs after the first in batches (the request plane's DATA_BATCH).
   */
  wholeOutput?: boolean;
}

/**
 * An engine as its callers see it. `generate` yields each new token as it is produced; breaking out of the
 * loop or aborting `signal` cancels the request and frees its memory at once.
 */
export interface InferenceEngine {
  readonly info: EngineModelInfo;
  generate(
    request: EngineRequest,
    signal?: AbortSignal,
    options?: GenerateOptions,
  ): AsyncIterable<EngineOutput>;
  /** Stop the engine loop and release resources. */
  close(): Promise<void>;
}

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);
const isFiniteNumber = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
const isTokenIdValue = (v: unknown): boolean => isCount(v) && (v as number) <= 0xffffffff;

const isLogitBias = (v: unknown): boolean =>
  Array.isArray(v) &&
  v.every(
    (pair) => Array.isArray(pair) && pair.length === 2 && isTokenIdValue(pair[0]) && isFiniteNumber(pair[1]),
  );

function isSamplingParams(v: unknown): v is SamplingParams {
  return (
    isPlainObject(v) &&
    isFiniteNumber(v.temperature) &&
    v.temperature >= 0 &&
    isFiniteNumber(v.topP) &&
    v.topP > 0 &&
    v.topP <= 1 &&
    Number.isSafeInteger(v.topK) &&
    (v.topK as number) >= -1 &&
    isFiniteNumber(v.minP) &&
    v.minP >= 0 &&
    v.minP <= 1 &&
    (v.seed === undefined || Number.isSafeInteger(v.seed)) &&
    isFiniteNumber(v.repetitionPenalty) &&
    v.repetitionPenalty > 0 &&
    isFiniteNumber(v.presencePenalty) &&
    isFiniteNumber(v.frequencyPenalty) &&
    (v.logitBias === undefined || isLogitBias(v.logitBias))
  );
}

function isStoppingParams(v: unknown): v is StoppingParams {
  return (
    isPlainObject(v) &&
    isCount(v.maxTokens) &&
    (v.maxTokens as number) >= 1 &&
    Array.isArray(v.stopTokenIds) &&
    v.stopTokenIds.every(isTokenIdValue) &&
    typeof v.ignoreEos === 'boolean' &&
    (v.minTokens === undefined || isCount(v.minTokens))
  );
}

/**
 * An EngineRequest as it arrives off the network (the worker's `generate` endpoint): right shapes, finite
 * numbers, token ids as u32 counts. Range checks that need the model (vocab size, context length) stay
 * with the engine, which rejects those with an InvalidRequestError.
 */
export function isEngineRequest(value: unknown): value is EngineRequest {
  return (
    isPlainObject(value) &&
    typeof value.requestId === 'string' &&
    value.requestId.length > 0 &&
    Array.isArray(value.promptTokenIds) &&
    value.promptTokenIds.every(isTokenIdValue) &&
    isSamplingParams(value.sampling) &&
    isStoppingParams(value.stopping) &&
    (value.logprobs === undefined || isCount(value.logprobs)) &&
    (value.promptLogprobs === undefined || isCount(value.promptLogprobs)) &&
    (value.sessionId === undefined || typeof value.sessionId === 'string') &&
    (value.kvTransfer === undefined || explainKvTransferRequest(value.kvTransfer) === undefined) &&
    (value.guidedDecoding === undefined || isGuidedDecodingSpec(value.guidedDecoding))
  );
}

function isGuidedDecodingSpec(v: unknown): v is GuidedDecodingSpec {
  return (
    isPlainObject(v) &&
    typeof v.schema === 'string' &&
    (v.acceptedTokenIds === undefined ||
      (Array.isArray(v.acceptedTokenIds) && v.acceptedTokenIds.every(isTokenIdValue)))
  );
}

/** Why `value` is not an EngineRequest, for the error sent back to the caller (undefined when it is one). */
export function explainEngineRequest(value: unknown): string | undefined {
  if (!isPlainObject(value)) return 'the payload must be a JSON object (an EngineRequest)';
  if (typeof value.requestId !== 'string' || value.requestId.length === 0)
    return 'requestId must be a non-empty string';
  if (!Array.isArray(value.promptTokenIds) || !value.promptTokenIds.every(isTokenIdValue))
    return 'promptTokenIds must be an array of token ids (integers 0..2^32-1)';
  if (!isSamplingParams(value.sampling))
    return 'sampling must be {temperature ≥ 0, topP in (0,1], topK ≥ -1, minP in [0,1], repetitionPenalty > 0, presencePenalty, frequencyPenalty, seed?, logitBias?: [token id, finite number][]}';
  if (!isStoppingParams(value.stopping))
    return 'stopping must be {maxTokens ≥ 1, stopTokenIds: token ids, ignoreEos: boolean, minTokens?}';
  if (value.logprobs !== undefined && !isCount(value.logprobs))
    return 'logprobs must be a non-negative integer when present';
  if (value.promptLogprobs !== undefined && !isCount(value.promptLogprobs))
    return 'promptLogprobs must be a non-negative integer when present';
  if (value.sessionId !== undefined && typeof value.sessionId !== 'string')
    return 'sessionId must be a string when present';
  if (value.kvTransfer !== undefined) {
    const problem = explainKvTransferRequest(value.kvTransfer);
    if (problem !== undefined) return problem;
  }
  if (value.guidedDecoding !== undefined && !isGuidedDecodingSpec(value.guidedDecoding))
    return 'guidedDecoding must be {schema: string, acceptedTokenIds?: token ids}';
  return isEngineRequest(value) ? undefined : 'not a valid EngineRequest';
}

/** Absent, or null (JSON from other implementations writes null where we leave a field out). */
const isAbsent = (v: unknown): boolean => v === undefined || v === null;

/**
 * Why `value` is not an EngineOutput as it arrives off the network (the frontend reading a worker's
 * `generate` stream), or undefined when it is one. Optional fields may be null. `requestId` is not
 * required: the caller knows which request the stream belongs to and stamps its own id.
 */
export function explainEngineOutput(value: unknown): string | undefined {
  if (!isPlainObject(value)) return 'an EngineOutput must be a JSON object';
  if (!isTokenIdValue(value.tokenId)) return 'tokenId must be a token id (an integer 0..2^32-1)';
  if (!isCount(value.numCachedTokens)) return 'numCachedTokens must be a non-negative integer';
  if (!isAbsent(value.finishReason) && !isFinishReason(value.finishReason))
    return `finishReason must be one of ${FINISH_REASONS.join(', ')} when present`;
  if (!isAbsent(value.logprob) && typeof value.logprob !== 'number')
    return 'logprob must be a number when present';
  if (!isAbsent(value.topLogprobs) && !Array.isArray(value.topLogprobs))
    return 'topLogprobs must be an array when present';
  if (!isAbsent(value.promptLogprobs) && !Array.isArray(value.promptLogprobs))
    return 'promptLogprobs must be an array when present';
  if (value.requestId !== undefined && typeof value.requestId !== 'string')
    return 'requestId must be a string when present';
  if (!isAbsent(value.queueMs) && !(typeof value.queueMs === 'number' && value.queueMs >= 0))
    return 'queueMs must be a number ≥ 0 when present';
  if (!isAbsent(value.kvTransferParams)) {
    const problem = explainKvTransferParams(value.kvTransferParams);
    if (problem !== undefined) return problem;
  }
  return undefined;
}

export function isEngineOutput(value: unknown): value is EngineOutput {
  return explainEngineOutput(value) === undefined;
}
