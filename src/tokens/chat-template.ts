/**
 * Chat templates: turns OpenAI-style `messages` into the one prompt string the model was trained on, by rendering
 * the checkpoint's Jinja template with @huggingface/jinja, with the same variables transformers passes
 * (`messages`, `tools`, `documents`, `add_generation_prompt`, `bos_token`, `eos_token`, ... plus caller extras;
 * `raise_exception` and `strftime_now` come from the Jinja runtime itself).
 * Systems analogy: a protocol translator at the edge, like an HTTP→gRPC gateway reframing requests for a backend.
 */
import { Template } from '@huggingface/jinja';
import { InvalidRequestError, TokenizerError } from '../util/errors.ts';
import { type ChatTemplateSource, type JsonObject, SPECIAL_TOKEN_KEYS } from './tokenizer-files.ts';

export interface ChatTextPart {
  type: 'text';
  text: string;
}

export interface ChatMessage {
  role: string;
  content: string | null | ChatTextPart[];
  name?: string;
  /** Other OpenAI fields (tool_calls, tool_call_id, ...) are passed to the template untouched. */
  [field: string]: unknown;
}

export interface ApplyChatTemplateOptions {
  addGenerationPrompt?: boolean;
  tools?: unknown[];
  /** Extra template variables, e.g. `{ enable_thinking: false }` (transformers' **kwargs). */
  extra?: Record<string, unknown>;
}

/** A tokenizer_config special token is either a plain string or an AddedToken object `{content, ...}`. */
export function specialTokenContent(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (
    value !== null &&
    typeof value === 'object' &&
    typeof (value as { content?: unknown }).content === 'string'
  ) {
    return (value as { content: string }).content;
  }
  return undefined;
}

/** The template variables transformers derives from tokenizer_config.json; unset (null) tokens are left out. */
export function specialTokenVariables(config: JsonObject): Record<string, unknown> {
  const vars: Record<string, unknown> = {};
  for (const key of SPECIAL_TOKEN_KEYS) {
    const content = specialTokenContent(config[key]);
    if (content !== undefined) vars[key] = content;
  }
  if (Array.isArray(config.additional_special_tokens)) {
    vars.additional_special_tokens = config.additional_special_tokens
      .map(specialTokenContent)
      .filter(Boolean);
  }
  return vars;
}

/** OpenAI allows content as a list of parts; templates expect a string. Text parts are joined with "\n" (as vLLM). */
export function normalizeMessage(message: ChatMessage): Record<string, unknown> {
  const { content } = message;
  if (typeof content === 'string') return { ...message };
  if (content === null || content === undefined) return { ...message, content: '' };
  if (!Array.isArray(content)) {
    throw new InvalidRequestError(
      'message content must be a string, null or a list of text parts',
      'messages',
    );
  }
  const texts = content.map((part, i) => {
    if (part?.type !== 'text' || typeof part.text !== 'string') {
      throw new InvalidRequestError(`content part ${i} must be {type: "text", text: string}`, 'messages');
    }
    return part.text;
  });
  return { ...message, content: texts.join('\n') };
}

/** A parsed chat template, ready to render many times. */
export class ChatTemplate {
  private constructor(
    private readonly template: Template,
    readonly origin: string,
    private readonly specialTokens: Record<string, unknown>,
  ) {}

  /** Parse the template; returns an error (not thrown) so a model without a usable template still serves completions. */
  static parse(source: ChatTemplateSource, tokenizerConfig: JsonObject): ChatTemplate | TokenizerError {
    if (source.kind === 'none') {
      return new TokenizerError(
        `no chat template: ${source.reason}; add a chat_template.jinja to the model directory or use /v1/completions`,
      );
    }
    try {
      return new ChatTemplate(
        new Template(source.template),
        source.origin,
        specialTokenVariables(tokenizerConfig),
      );
    } catch (err) {
      return new TokenizerError(
        `chat template in ${source.origin} does not parse (${(err as Error).message}); check its Jinja syntax`,
        { cause: err },
      );
    }
  }

  render(messages: ChatMessage[], opts: ApplyChatTemplateOptions = {}): string {
    const context: Record<string, unknown> = {
      ...this.specialTokens,
      ...opts.extra,
      messages: messages.map(normalizeMessage),
      tools: opts.tools ?? null,
      documents: null,
      add_generation_prompt: opts.addGenerationPrompt ?? false,
    };
    try {
      return this.template.render(context);
    } catch (err) {
      // Most render failures are the template rejecting the conversation (raise_exception: "roles must
      // alternate", unsupported tool format): a bad request, as vLLM reports it.
      throw Object.assign(
        new InvalidRequestError(
          `chat template (${this.origin}) rejected the messages: ${(err as Error).message}`,
          'messages',
        ),
        { cause: err },
      );
    }
  }
}
