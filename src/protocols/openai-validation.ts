/**
 * OpenAI request validation: turns an untrusted parsed JSON body into a typed request. Like a protocol
 * parser at the edge of a proxy: everything past this point may trust field types and ranges; everything
 * wrong here becomes `InvalidRequestError(message, param)` → HTTP 400 naming the field.
 *
 * Unknown fields are ignored (as vLLM and other OpenAI-compatible servers do); `null` counts as "not set".
 */
import { InvalidRequestError } from './errors.ts';
import type {
  ChatCompletionRequest,
  ChatMessageParam,
  CompletionRequest,
  GenerationParams,
} from './openai.ts';
import { CHAT_ROLES, type ChatRole } from './openai.ts';

type JsonObject = Record<string, unknown>;

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function describe(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 40 ? `${text.slice(0, 40)}…` : text;
}

interface NumberRule {
  min?: number;
  max?: number;
  /** min itself is not allowed. */
  minExclusive?: boolean;
  integer?: boolean;
}

function ruleText(rule: NumberRule): string {
  const kind = rule.integer ? 'an integer' : 'a number';
  const low = rule.min === undefined ? '' : rule.minExclusive ? `> ${rule.min}` : `>= ${rule.min}`;
  const high = rule.max === undefined ? '' : `<= ${rule.max}`;
  const range = [low, high].filter(Boolean).join(' and ');
  return range ? `${kind} ${range}` : kind;
}

function inRange(value: number, rule: NumberRule): boolean {
  if (!Number.isFinite(value)) return false;
  if (rule.integer && !Number.isSafeInteger(value)) return false;
  if (rule.min !== undefined && (rule.minExclusive ? value <= rule.min : value < rule.min)) return false;
  if (rule.max !== undefined && value > rule.max) return false;
  return true;
}

/** Typed, range-checked access to the fields of one JSON object; every failure names its field. */
class FieldReader {
  constructor(private readonly body: JsonObject) {}

  raw(key: string): unknown {
    const value = this.body[key];
    return value === null ? undefined : value;
  }

  string(key: string): string | undefined {
    const value = this.raw(key);
    if (value === undefined || typeof value === 'string') return value;
    throw new InvalidRequestError(`'${key}' must be a string (got ${describe(value)})`, key);
  }

  boolean(key: string): boolean | undefined {
    const value = this.raw(key);
    if (value === undefined || typeof value === 'boolean') return value;
    throw new InvalidRequestError(`'${key}' must be true or false (got ${describe(value)})`, key);
  }

  number(key: string, rule: NumberRule = {}): number | undefined {
    const value = this.raw(key);
    if (value === undefined) return undefined;
    if (typeof value === 'number' && inRange(value, rule)) return value;
    throw new InvalidRequestError(`'${key}' must be ${ruleText(rule)} (got ${describe(value)})`, key);
  }

  tokenIds(key: string): number[] | undefined {
    const value = this.raw(key);
    if (value === undefined) return undefined;
    if (isTokenIdArray(value)) return value;
    throw new InvalidRequestError(`'${key}' must be an array of token ids (integers >= 0)`, key);
  }
}

function isTokenIdArray(value: unknown): value is number[] {
  return (
    Array.isArray(value) && value.every((v) => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0)
  );
}

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
  const includeUsage = new FieldReader(options).boolean('include_usage');
  return { include_usage: includeUsage ?? false };
}

function readN(fields: FieldReader): 1 {
  const n = fields.number('n', { integer: true, min: 1 }) ?? 1;
  if (n !== 1) {
    throw new InvalidRequestError(
      `n=${n} is not supported: this server returns exactly one choice per request, so 'n' must be 1 ` +
        '(send several requests instead)',
      'n',
    );
  }
  return 1;
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
  return message;
}

/** Validate a parsed `POST /v1/chat/completions` body. Throws InvalidRequestError naming the bad field. */
export function parseChatCompletionRequest(body: unknown): ChatCompletionRequest {
  const fields = new FieldReader(requireObject(body));
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
  return {
    ...readGenerationParams(fields),
    messages: messages.map(readMessage),
    logprobs,
    top_logprobs: topLogprobs,
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
  if (fields.raw('prompt') === undefined) throw new InvalidRequestError("'prompt' is required", 'prompt');
  return {
    ...readGenerationParams(fields),
    prompt: readPrompt(fields),
    logprobs: fields.number('logprobs', { integer: true, min: 0, max: 5 }),
  };
}
