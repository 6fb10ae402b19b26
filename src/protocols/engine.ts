/**
 * The contract between whoever sends work (CLI, HTTP server, later the frontend over the network) and an
 * engine (our Llama engine or the mocker). Engines take token ids and yield token ids: text, chat templates
 * and stop strings are the caller's business, as in Dynamo where the frontend tokenizes and detokenizes.
 */
import type { RequestId } from './ids.ts';

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

export interface EngineRequest {
  requestId: RequestId;
  promptTokenIds: number[];
  sampling: SamplingParams;
  stopping: StoppingParams;
  /** Return the log-probability of each sampled token and this many top alternatives (undefined = none). */
  logprobs?: number;
}

export type FinishReason = 'stop' | 'length' | 'abort' | 'error';

export interface TokenLogprob {
  tokenId: number;
  logprob: number;
}

/** One step's result for one request: normally one new token. */
export interface EngineOutput {
  requestId: RequestId;
  tokenId: number;
  /** log-probability of tokenId, and the top-n alternatives, when the request asked for logprobs. */
  logprob?: number;
  topLogprobs?: TokenLogprob[];
  /** Set on the last output of a request. */
  finishReason?: FinishReason;
  /** Prompt tokens served from the prefix cache (known once prefill is scheduled). */
  numCachedTokens: number;
}

export interface EngineModelInfo {
  /** Model name as served (e.g. "fortune-llama"). */
  name: string;
  contextLength: number;
  vocabSize: number;
  eosTokenIds: number[];
}

/**
 * An engine as its callers see it. `generate` yields each new token as it is produced; breaking out of the
 * loop or aborting `signal` cancels the request and frees its memory at once.
 */
export interface InferenceEngine {
  readonly info: EngineModelInfo;
  generate(request: EngineRequest, signal?: AbortSignal): AsyncIterable<EngineOutput>;
  /** Stop the engine loop and release resources. */
  close(): Promise<void>;
}
