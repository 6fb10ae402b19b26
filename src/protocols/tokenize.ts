/**
 * `POST /tokenize` and `POST /detokenize`: vLLM's request and response shapes (its OpenAI server's
 * `TokenizeCompletionRequest` / `TokenizeChatRequest` / `DetokenizeRequest`), so tools written for vLLM
 * (prompt-length checks, token budgeting, debugging a chat template) work unchanged. Validation here turns
 * an untrusted body into a typed request; every failure names its field (HTTP 400).
 */
import { InvalidRequestError } from './errors.ts';
import type { ChatMessageParam } from './openai.ts';
import { parseChatCompletionRequest } from './openai-validation.ts';

export type TokenizeRequest =
  | {
      kind: 'prompt';
      model?: string;
      prompt: string;
      add_special_tokens: boolean;
      return_token_strs: boolean;
    }
  | {
      kind: 'chat';
      model?: string;
      messages: ChatMessageParam[];
      add_generation_prompt: boolean;
      /** Undefined = the rule chat completions use (the template's own BOS, else the tokenizer's). */
      add_special_tokens?: boolean;
      return_token_strs: boolean;
    };

export interface TokenizeResponse {
  count: number;
  max_model_len: number;
  tokens: number[];
  token_strs?: string[];
}

export interface DetokenizeRequest {
  model?: string;
  tokens: number[];
}

export interface DetokenizeResponse {
  prompt: string;
}

type JsonObject = Record<string, unknown>;

function object(body: unknown): JsonObject {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new InvalidRequestError('the request body must be a JSON object', null);
  }
  return body as JsonObject;
}

function optional<T>(body: JsonObject, key: string, type: 'string' | 'boolean'): T | undefined {
  const value = body[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== type)
    throw new InvalidRequestError(
      `'${key}' must be ${type === 'string' ? 'a string' : 'true or false'}`,
      key,
    );
  return value as T;
}

export function parseTokenizeRequest(raw: unknown): TokenizeRequest {
  const body = object(raw);
  const model = optional<string>(body, 'model', 'string');
  const returnTokenStrs = optional<boolean>(body, 'return_token_strs', 'boolean') ?? false;
  const addSpecial = optional<boolean>(body, 'add_special_tokens', 'boolean');
  if (body.messages !== undefined && body.prompt !== undefined) {
    throw new InvalidRequestError("send either 'prompt' or 'messages', not both", 'messages');
  }
  if (body.messages !== undefined) {
    // The same message rules as chat completions, so what tokenizes here is what a chat request would send.
    const { messages } = parseChatCompletionRequest({ messages: body.messages });
    return {
      kind: 'chat',
      model,
      messages,
      add_generation_prompt: optional<boolean>(body, 'add_generation_prompt', 'boolean') ?? true,
      add_special_tokens: addSpecial,
      return_token_strs: returnTokenStrs,
    };
  }
  if (typeof body.prompt !== 'string') {
    throw new InvalidRequestError(
      "'prompt' must be a string (or send 'messages' to tokenize a chat)",
      'prompt',
    );
  }
  return {
    kind: 'prompt',
    model,
    prompt: body.prompt,
    add_special_tokens: addSpecial ?? true,
    return_token_strs: returnTokenStrs,
  };
}

export function parseDetokenizeRequest(raw: unknown): DetokenizeRequest {
  const body = object(raw);
  const tokens = body.tokens;
  if (!Array.isArray(tokens) || !tokens.every((t) => Number.isSafeInteger(t) && (t as number) >= 0)) {
    throw new InvalidRequestError("'tokens' must be an array of token ids (integers >= 0)", 'tokens');
  }
  return { model: optional<string>(body, 'model', 'string'), tokens: tokens as number[] };
}
