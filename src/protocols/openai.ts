/**
 * OpenAI wire types: chat completions, completions, stream chunks, errors, model list. Field names stay
 * snake_case, exactly as on the wire; the frontend maps them to engine parameters. The validators that
 * produce the request types from untrusted JSON are in `openai-validation.ts`.
 */

// ---------------------------------------------------------------------------------------------------------
// Requests (validated)

export type ChatRole = 'system' | 'user' | 'assistant' | 'tool';
export const CHAT_ROLES: readonly ChatRole[] = ['system', 'user', 'assistant', 'tool'];

/** A chat message with its content flattened to text (text-part arrays joined with newlines). */
export interface ChatMessageParam {
  role: ChatRole;
  content: string;
  name?: string;
  tool_call_id?: string;
  /** An assistant message's earlier calls (multi-turn tool use). */
  tool_calls?: ToolCall[];
}

/** Fields shared by both endpoints: OpenAI's sampling knobs plus vLLM's extras. */
export interface GenerationParams {
  /** Absent = whatever model the server serves. */
  model?: string;
  /** max_completion_tokens if given, else max_tokens; absent = fill the context. */
  max_tokens?: number;
  temperature?: number;
  top_p?: number;
  /** Choices to generate (1-128), each its own engine sequence sharing the prompt. */
  n: number;
  /** Validated `logit_bias`: [token id, bias in -100..100] pairs, sorted by id; absent = none. */
  logit_bias?: [number, number][];
  /** Constrained output: absent or `{type: 'text'}` = free text. */
  response_format?: ResponseFormat;
  stream: boolean;
  stream_options?: { include_usage: boolean };
  /** Stop strings, empty strings dropped. */
  stop: string[];
  seed?: number;
  presence_penalty?: number;
  frequency_penalty?: number;
  user?: string;
  // vLLM extras
  top_k?: number;
  min_p?: number;
  repetition_penalty?: number;
  ignore_eos: boolean;
  min_tokens?: number;
  stop_token_ids: number[];
  skip_special_tokens: boolean;
}

/** `response_format`: free text, any JSON object, or JSON matching a schema (constrained decoding). */
export type ResponseFormat =
  | { type: 'text' }
  | { type: 'json_object' }
  | { type: 'json_schema'; json_schema: { name: string; schema: Record<string, unknown>; strict: boolean } };

/** A function the model may call (`tools[i].function`). */
export interface FunctionTool {
  name: string;
  description?: string;
  /** JSON Schema of the arguments object. */
  parameters?: Record<string, unknown>;
  strict?: boolean;
}

export type ToolChoice = 'none' | 'auto' | 'required' | { type: 'function'; function: { name: string } };

export interface ChatCompletionRequest extends GenerationParams {
  messages: ChatMessageParam[];
  /** Functions offered to the model (`tools[i].type` is 'function'); absent = none. */
  tools?: FunctionTool[];
  tool_choice?: ToolChoice;
  parallel_tool_calls: boolean;
  /** Return log-probabilities of the sampled tokens. */
  logprobs: boolean;
  /** Alternatives per position (0-20), only with logprobs: true. */
  top_logprobs?: number;
}

export interface CompletionRequest extends GenerationParams {
  /** Text, or token ids (already tokenized). */
  prompt: string | number[];
  /** Log-probabilities of the sampled token plus this many alternatives (0-5); absent = none. */
  logprobs?: number;
  /** Return the prompt's text before the completion. */
  echo: boolean;
  /** vLLM's extra: each prompt token's logprob with this many alternatives (0-20), as `prompt_logprobs`. */
  prompt_logprobs?: number;
}

/** One entry of vLLM's `prompt_logprobs`: keyed by token id (as a JSON string). */
export interface VllmLogprob {
  logprob: number;
  /** 1 = the most likely token at that position. */
  rank: number;
  decoded_token: string;
}

// ---------------------------------------------------------------------------------------------------------
// Responses

export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  prompt_tokens_details: { cached_tokens: number; audio_tokens: number };
  /** OpenAI's breakdown; this server has no reasoning, audio or predicted-output tokens, so all are 0. */
  completion_tokens_details: {
    reasoning_tokens: number;
    audio_tokens: number;
    accepted_prediction_tokens: number;
    rejected_prediction_tokens: number;
  };
}

export type OpenAiFinishReason = 'stop' | 'length' | 'tool_calls';

/** A call the model made (chat `message.tool_calls`). */
export interface ToolCall {
  id: string;
  type: 'function';
  function: { name: string; arguments: string };
}

export interface ChatTopLogprob {
  token: string;
  logprob: number;
  /** UTF-8 bytes of `token`. */
  bytes: number[];
}
export interface ChatTokenLogprob extends ChatTopLogprob {
  top_logprobs: ChatTopLogprob[];
}
export interface ChatLogprobs {
  content: ChatTokenLogprob[];
}

export interface ChatCompletion {
  id: string;
  object: 'chat.completion';
  created: number;
  model: string;
  system_fingerprint?: string;
  choices: {
    index: number;
    message: { role: 'assistant'; content: string | null; refusal: null; tool_calls?: ToolCall[] };
    logprobs: ChatLogprobs | null;
    finish_reason: OpenAiFinishReason;
  }[];
  usage: Usage;
}

export interface ChatCompletionChunk {
  id: string;
  object: 'chat.completion.chunk';
  created: number;
  model: string;
  system_fingerprint?: string;
  choices: {
    index: number;
    delta: {
      role?: 'assistant';
      content?: string | null;
      refusal?: null;
      tool_calls?: (ToolCall & { index: number })[];
    };
    logprobs: ChatLogprobs | null;
    finish_reason: OpenAiFinishReason | null;
  }[];
  /** Only with stream_options.include_usage: null on every chunk but the last, which has empty choices. */
  usage?: Usage | null;
}

/** Completions logprobs: parallel arrays, one entry per generated token. */
export interface CompletionLogprobs {
  tokens: string[];
  /** null only for the first prompt token with `echo` (nothing comes before it). */
  token_logprobs: (number | null)[];
  /** Per position: alternative token text → logprob (null where token_logprobs is). */
  top_logprobs: (Record<string, number> | null)[];
  /** Character offset of each token in the returned text. */
  text_offset: number[];
}

/** Used both for the whole response and for each stream chunk (OpenAI uses one shape for both). */
export interface Completion {
  id: string;
  object: 'text_completion';
  created: number;
  model: string;
  system_fingerprint?: string;
  choices: {
    index: number;
    text: string;
    logprobs: CompletionLogprobs | null;
    finish_reason: OpenAiFinishReason | null;
    /** With `prompt_logprobs` (vLLM): null for the first prompt token, then token id → its logprob. */
    prompt_logprobs?: (Record<string, VllmLogprob> | null)[];
  }[];
  usage?: Usage | null;
}

export interface ModelCard {
  id: string;
  object: 'model';
  created: number;
  owned_by: string;
  max_model_len: number;
}
export interface ModelList {
  object: 'list';
  data: ModelCard[];
}

export interface ErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null };
}
