/**
 * OpenAI request validation: turns an untrusted parsed JSON body into a typed request. Like a protocol
 * parser at the edge of a proxy: everything past this point may trust field types and ranges; everything
 * wrong here becomes `InvalidRequestError(message, param)` → HTTP 400 naming the field.
 *
 * OpenAI fields this server cannot honour are a 400 naming them (`openai-unsupported.ts`); fields that are
 * not OpenAI's are ignored (as vLLM does); `null` counts as "not set".
 */
import { InvalidRequestError } from './errors.ts';
import { describe, FieldReader, isObject, isTokenIdArray, type JsonObject } from './openai-field-reader.ts';
import { readMessageToolCalls, readResponseFormat, readToolChoice, readTools } from './openai-structured.ts';
import { rejectUnsupportedFields } from './openai-unsupported.ts';
import type {
  ChatCompletionRequest,
  ChatMessageParam,
  CompletionRequest,
  GenerationParams,
} from './openai.ts';
import { CHAT_ROLES, type ChatRole } from './openai.ts';

function requireObject(body: unknown): JsonObject {
  if (isObject(body)) return body;
  throw new InvalidRequestError(`the request body must be a JSON object (got ${describe(body)})`);
}

const MAX_STOP_STRINGS = 4;

function readStop(fields: FieldReader): string[] {
  const stop = fields.raw('stop');
  if (stop === undefined) return [];
  const list = typeof stop === 'string' ? [stop] : stop;
  if (!Array.isArray(list) || !list.every((s) => typeof s === 'string')) {
    throw new InvalidRequestError(
      `'stop' must be a string or an array of strings (got ${describe(stop)})`,
      'stop',
    );
  }
  if (list.length > MAX_STOP_STRINGS) {
    throw new InvalidRequestError(
      `'stop' may hold at most ${MAX_STOP_STRINGS} strings (got ${list.length})`,
      'stop',
    );
  }
  return list.filter((s) => s.length > 0);
}

function readStreamOptions(fields: FieldReader): GenerationParams['stream_options'] {
  const options = fields.raw('stream_options');
  if (options === undefined) return undefined;
  if (!isObject(options)) {
    throw new InvalidRequestError(
      `'stream_options' must be an object (got ${describe(options)})`,
      'stream_options',
    );
  }
  const includeUsage = new FieldReader(options, 'stream_options.').boolean('include_usage');
  return { include_usage: includeUsage ?? false };
}

/** Most choices per request: each is a sequence in the engine; OpenAI allows 128. */
export const MAX_CHOICES = 128;

function readN(fields: FieldReader): number {
  return fields.number('n', { integer: true, min: 1, max: MAX_CHOICES }) ?? 1;
}

/** OpenAI's bias range: -100 bans a token, +100 all but forces it. */
export const LOGIT_BIAS_LIMIT = 100;

/**
 * `{"token id": bias}` → sorted `[id, bias]` pairs. Whether the ids are in the model's vocabulary is
 * checked once the model is known (`checkLogitBias` in the frontend).
 */
function readLogitBias(fields: FieldReader): [number, number][] | undefined {
  const bias = fields.object('logit_bias');
  if (bias === undefined) return undefined;
  const pairs: [number, number][] = [];
  for (const [key, value] of Object.entries(bias)) {
    const id = Number(key);
    if (!/^\d+$/.test(key) || !Number.isSafeInteger(id)) {
      throw new InvalidRequestError(
        `'logit_bias' keys must be token ids (integers >= 0 as strings); got ${describe(key)}`,
        'logit_bias',
      );
    }
    if (typeof value !== 'number' || !(Math.abs(value) <= LOGIT_BIAS_LIMIT)) {
      throw new InvalidRequestError(
        `'logit_bias' values must be numbers from -${LOGIT_BIAS_LIMIT} to ${LOGIT_BIAS_LIMIT}; ` +
          `got ${describe(value)} for token ${key}`,
        'logit_bias',
      );
    }
    pairs.push([id, value]);
  }
  return pairs.length > 0 ? pairs.sort((a, b) => a[0] - b[0]) : undefined;
}

function readGenerationParams(fields: FieldReader): GenerationParams {
  const maxTokens = fields.number('max_tokens', { integer: true, min: 1 });
  const maxCompletionTokens = fields.number('max_completion_tokens', { integer: true, min: 1 });
  return {
    model: fields.string('model'),
    max_tokens: maxCompletionTokens ?? maxTokens,
    temperature: fields.number('temperature', { min: 0, max: 2 }),
    top_p: fields.number('top_p', { min: 0, minExclusive: true, max: 1 }),
    n: readN(fields),
    logit_bias: readLogitBias(fields),
    response_format: readResponseFormat(fields),
    stream: fields.boolean('stream') ?? false,
    stream_options: readStreamOptions(fields),
    stop: readStop(fields),
    seed: fields.number('seed', { integer: true }),
    presence_penalty: fields.number('presence_penalty', { min: -2, max: 2 }),
    frequency_penalty: fields.number('frequency_penalty', { min: -2, max: 2 }),
    user: fields.string('user'),
    top_k: fields.number('top_k', { integer: true, min: -1 }),
    min_p: fields.number('min_p', { min: 0, max: 1 }),
    repetition_penalty: fields.number('repetition_penalty', { min: 0, minExclusive: true }),
    ignore_eos: fields.boolean('ignore_eos') ?? false,
    min_tokens: fields.number('min_tokens', { integer: true, min: 0 }),
    stop_token_ids: fields.tokenIds('stop_token_ids') ?? [],
    skip_special_tokens: fields.boolean('skip_special_tokens') ?? true,
  };
}

/** Content as a string, or an array of `{type: 'text', text}` parts (joined with newlines, as vLLM does). */
function readContent(message: JsonObject, param: string): string {
  const content = message.content ?? null;
  if (typeof content === 'string') return content;
  if (content === null && (message.role === 'assistant' || message.role === 'tool')) return '';
  if (!Array.isArray(content)) {
    throw new InvalidRequestError(`'${param}' must be a string or an array of text parts`, param);
  }
  return content
    .map((part, i) => {
      if (isObject(part) && part.type === 'text' && typeof part.text === 'string') return part.text;
      const type = isObject(part) ? describe(part.type) : describe(part);
      throw new InvalidRequestError(
        `'${param}[${i}]' must be a text part {"type": "text", "text": "..."}; got type ${type} ` +
          '(this server handles text only)',
        `${param}[${i}]`,
      );
    })
    .join('\n');
}

function readMessage(value: unknown, index: number): ChatMessageParam {
  const param = `messages[${index}]`;
  if (!isObject(value))
    throw new InvalidRequestError(`'${param}' must be an object with role and content`, param);
  const role = value.role;
  if (typeof role !== 'string' || !(CHAT_ROLES as readonly string[]).includes(role)) {
    throw new InvalidRequestError(
      `'${param}.role' must be one of ${CHAT_ROLES.join(', ')} (got ${describe(role)})`,
      `${param}.role`,
    );
  }
  const fields = new FieldReader(value);
  const message: ChatMessageParam = {
    role: role as ChatRole,
    content: readContent(value, `${param}.content`),
  };
  const name = fields.string('name');
  const toolCallId = fields.string('tool_call_id');
  if (name !== undefined) message.name = name;
  if (toolCallId !== undefined) message.tool_call_id = toolCallId;
  const toolCalls = readMessageToolCalls(fields, param);
  if (toolCalls !== undefined) message.tool_calls = toolCalls;
  return message;
}

/** Validate a parsed `POST /v1/chat/completions` body. Throws InvalidRequestError naming the bad field. */
export function parseChatCompletionRequest(body: unknown): ChatCompletionRequest {
  const fields = new FieldReader(requireObject(body));
  rejectUnsupportedFields(fields, 'chat');
  if (fields.raw('prompt_logprobs') !== undefined && fields.raw('prompt_logprobs') !== null) {
    throw new InvalidRequestError(
      "'prompt_logprobs' is served on /v1/completions only here (send the rendered prompt there)",
      'prompt_logprobs',
    );
  }
  const messages = fields.raw('messages');
  if (!Array.isArray(messages) || messages.length === 0) {
    throw new InvalidRequestError(
      "'messages' must be a non-empty array of {role, content} objects",
      'messages',
    );
  }
  const logprobs = fields.boolean('logprobs') ?? false;
  const topLogprobs = fields.number('top_logprobs', { integer: true, min: 0, max: 20 });
  if (topLogprobs !== undefined && !logprobs) {
    throw new InvalidRequestError("'top_logprobs' needs 'logprobs': true", 'top_logprobs');
  }
  const tools = readTools(fields);
  return {
    ...readGenerationParams(fields),
    messages: messages.map(readMessage),
    logprobs,
    top_logprobs: topLogprobs,
    tools,
    tool_choice: readToolChoice(fields, tools),
    parallel_tool_calls: fields.boolean('parallel_tool_calls') ?? true,
  };
}

function readPrompt(fields: FieldReader): string | number[] {
  const prompt = fields.raw('prompt');
  if (typeof prompt === 'string') return prompt;
  if (isTokenIdArray(prompt) && prompt.length > 0) return prompt;
  if (
    Array.isArray(prompt) &&
    prompt.length > 1 &&
    prompt.every((p) => typeof p === 'string' || Array.isArray(p))
  ) {
    throw new InvalidRequestError(
      `batched prompts are not supported (got ${prompt.length} prompts): send one prompt per request`,
      'prompt',
    );
  }
  if (Array.isArray(prompt) && prompt.length === 1) {
    const [only] = prompt;
    if (typeof only === 'string') return only;
    if (isTokenIdArray(only) && only.length > 0) return only;
  }
  throw new InvalidRequestError(
    "'prompt' must be a string or a non-empty array of token ids (integers >= 0)",
    'prompt',
  );
}

/** Validate a parsed `POST /v1/completions` body. Throws InvalidRequestError naming the bad field. */
export function parseCompletionRequest(body: unknown): CompletionRequest {
  const fields = new FieldReader(requireObject(body));
  rejectUnsupportedFields(fields, 'completions');
  if (fields.raw('prompt') === undefined) throw new InvalidRequestError("'prompt' is required", 'prompt');
  const params = readGenerationParams(fields);
  readBestOf(fields, params.n);
  return {
    ...params,
    prompt: readPrompt(fields),
    logprobs: fields.number('logprobs', { integer: true, min: 0, max: 5 }),
    echo: fields.boolean('echo') ?? false,
    prompt_logprobs: fields.number('prompt_logprobs', { integer: true, min: 0, max: 20 }),
  };
}

/**
 * `best_of` samples that many and returns the `n` most likely; ranking whole sequences is not done here,
 * so only best_of = n (every sample returned) is honoured.
 */
function readBestOf(fields: FieldReader, n: number): void {
  const bestOf = fields.number('best_of', { integer: true, min: 1, max: MAX_CHOICES });
  if (bestOf === undefined || bestOf === n) return;
  throw new InvalidRequestError(
    `'best_of' ${bestOf} is not supported: this server returns every sample, so 'best_of' must equal 'n' ` +
      `(${n}) or be left out`,
    'best_of',
  );
}
