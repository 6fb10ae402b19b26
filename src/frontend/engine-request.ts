/**
 * Validated OpenAI fields → the engine's `EngineRequest` (vLLM-named sampling and stopping parameters).
 * Like a proxy translating a public API into its backend's internal RPC: names change, defaults are
 * filled in, and nothing the engine cannot honour gets through.
 */
import { DEFAULT_SAMPLING, type EngineRequest, type SamplingParams } from '../protocols/engine.ts';
import type { RequestId } from '../protocols/ids.ts';
import type { GenerationParams, ResponseFormat } from '../protocols/openai.ts';

export function toSamplingParams(params: GenerationParams): SamplingParams {
  const sampling: SamplingParams = {
    temperature: params.temperature ?? DEFAULT_SAMPLING.temperature,
    topP: params.top_p ?? DEFAULT_SAMPLING.topP,
    topK: params.top_k ?? DEFAULT_SAMPLING.topK,
    minP: params.min_p ?? DEFAULT_SAMPLING.minP,
    repetitionPenalty: params.repetition_penalty ?? DEFAULT_SAMPLING.repetitionPenalty,
    presencePenalty: params.presence_penalty ?? DEFAULT_SAMPLING.presencePenalty,
    frequencyPenalty: params.frequency_penalty ?? DEFAULT_SAMPLING.frequencyPenalty,
  };
  if (params.seed !== undefined) sampling.seed = params.seed;
  if (params.logit_bias !== undefined) sampling.logitBias = params.logit_bias;
  return sampling;
}

export interface EngineRequestInput {
  requestId: RequestId;
  promptTokenIds: number[];
  maxTokens: number;
  params: GenerationParams;
  /** The model's end-of-sequence ids. */
  eosTokenIds: readonly number[];
  /** Top alternatives per position when logprobs are wanted; undefined = no logprobs. */
  logprobs?: number;
  /** Score the prompt too (echo + logprobs), with this many alternatives per position. */
  promptLogprobs?: number;
  /** Routing hint for session affinity (x-session-id header, else the body's `user`). */
  sessionId?: string;
  /** A JSON Schema (text) the output must match, when not the body's `response_format` (tool calls). */
  guidedSchema?: string;
}

export function toEngineRequest(input: EngineRequestInput): EngineRequest {
  const { params } = input;
  // With ignore_eos the EOS ids are left out, so only the request's own stop_token_ids can end it.
  const eos = params.ignore_eos ? [] : input.eosTokenIds;
  const request: EngineRequest = {
    requestId: input.requestId,
    promptTokenIds: input.promptTokenIds,
    sampling: toSamplingParams(params),
    stopping: {
      maxTokens: input.maxTokens,
      stopTokenIds: [...new Set([...eos, ...params.stop_token_ids])],
      ignoreEos: params.ignore_eos,
    },
  };
  if (params.min_tokens !== undefined) request.stopping.minTokens = params.min_tokens;
  if (input.logprobs !== undefined) request.logprobs = input.logprobs;
  if (input.promptLogprobs !== undefined) request.promptLogprobs = input.promptLogprobs;
  if (input.sessionId !== undefined) request.sessionId = input.sessionId;
  const schema = input.guidedSchema ?? guidedSchemaOf(params.response_format);
  if (schema !== undefined) request.guidedDecoding = { schema };
  return request;
}

/**
 * `response_format` → the JSON Schema the engine constrains the output to: any object for `json_object`
 * (OpenAI's JSON mode answers an object), the given schema for `json_schema`; none for text.
 */
export function guidedSchemaOf(format: ResponseFormat | undefined): string | undefined {
  if (format === undefined || format.type === 'text') return undefined;
  if (format.type === 'json_object') return JSON.stringify({ type: 'object' });
  return JSON.stringify(format.json_schema.schema);
}

/** The request's session for routing affinity: the `x-session-id` header, else OpenAI's `user` field. */
export function sessionIdOf(
  ctx: { req: { headers: Record<string, string | string[] | undefined> } },
  body: { user?: string },
): string | undefined {
  const header = ctx.req.headers['x-session-id'];
  const value = Array.isArray(header) ? header[0] : header;
  return value !== undefined && value !== '' ? value : body.user;
}
