/**
 * Request → token ids, the frontend's half of Dynamo's preprocessor: chat messages go through the model's
 * chat template, text through the tokenizer, and the result is checked against the context window before
 * any engine sees it. Like a proxy normalizing a request (rewrite, size check) before it picks a backend.
 *
 * Context rule (as vLLM): prompt ≥ context is always an error; with max_tokens given,
 * prompt + max_tokens > context is an error; without it, max_tokens = context − prompt.
 */
import type { ChatMessageParam } from '../protocols/openai.ts';
import type { ChatMessage, Tokenizer } from '../tokens/index.ts';
import { InvalidRequestError } from '../util/errors.ts';
import { templateMessage } from './tool-calls.ts';

export interface ChatPromptOptions {
  /** End with the assistant's turn header (default true: the model answers next). */
  addGenerationPrompt?: boolean;
  /** Let the tokenizer add BOS/EOS; default: only when the rendered template does not begin with BOS. */
  addSpecialTokens?: boolean;
  /** The tools offered, for templates that render them. */
  tools?: unknown[];
}

/** Chat messages (and the tools offered, for templates that render them) → prompt token ids. */
export function chatPromptIds(
  tokenizer: Tokenizer,
  messages: readonly ChatMessageParam[],
  options: ChatPromptOptions = {},
): number[] {
  const { text, addSpecialTokens } = chatPromptText(tokenizer, messages, options);
  return tokenizer.encode(text, { addSpecialTokens });
}

/**
 * Chat messages → the prompt text and how to encode it (prompt-encoder.ts sizes it before tokenizing).
 * Templates that write the BOS text themselves must not get a second BOS from the tokenizer.
 */
export function chatPromptText(
  tokenizer: Tokenizer,
  messages: readonly ChatMessageParam[],
  options: ChatPromptOptions = {},
): { text: string; addSpecialTokens: boolean } {
  if (!tokenizer.hasChatTemplate) {
    throw new InvalidRequestError(
      'this model has no chat template (no chat_template.jinja or chat_template in tokenizer_config.json): ' +
        'use POST /v1/completions with a plain prompt instead',
      'messages',
    );
  }
  const chat = templateMessages(messages);
  const text = tokenizer.applyChatTemplate(chat, {
    addGenerationPrompt: options.addGenerationPrompt ?? true,
    ...(options.tools ? { tools: options.tools } : {}),
  });
  return { text, addSpecialTokens: options.addSpecialTokens ?? !startsWithBos(tokenizer, text) };
}

/** Messages as the chat template receives them (earlier tool calls' arguments as objects). */
export function templateMessages(messages: readonly ChatMessageParam[]): ChatMessage[] {
  return messages.map((m) => templateMessage({ ...m }));
}

function startsWithBos(tokenizer: Tokenizer, text: string): boolean {
  const bos = tokenizer.bosTokenId;
  if (bos === null || bos === undefined) return false;
  const bosText = tokenizer.decode([bos], { skipSpecialTokens: false });
  return bosText.length > 0 && text.startsWith(bosText);
}

/** A completions prompt (text or ids) → prompt token ids; ids are checked against the vocabulary. */
export function completionPromptIds(
  tokenizer: Tokenizer,
  prompt: string | number[],
  vocabSize: number,
): number[] {
  if (typeof prompt === 'string') return tokenizer.encode(prompt, { addSpecialTokens: true });
  const bad = prompt.findIndex((id) => id >= vocabSize);
  if (bad >= 0) {
    throw new InvalidRequestError(
      `prompt[${bad}] = ${prompt[bad]} is not a token id of this model (vocabulary size ${vocabSize})`,
      'prompt',
    );
  }
  return prompt;
}

/**
 * Checks the prompt fits the context and returns the max_tokens to use. `promptParam` is the field the
 * prompt came from (`messages` for chat, `prompt` for completions): the one a length error names.
 */
export function resolveMaxTokens(
  promptTokens: number,
  requestedMaxTokens: number | undefined,
  contextLength: number,
  options: { minTokens?: number | undefined; promptParam?: 'messages' | 'prompt' } = {},
): number {
  const minTokens = options.minTokens ?? 0;
  const promptParam = options.promptParam ?? 'prompt';
  if (promptTokens === 0) {
    throw new InvalidRequestError('the prompt is empty (0 tokens): send some text', promptParam);
  }
  if (promptTokens >= contextLength) {
    throw new InvalidRequestError(
      `This model's maximum context length is ${contextLength} tokens, but the prompt is ${promptTokens} ` +
        'tokens, leaving no room for output. Please shorten the prompt.',
      promptParam,
      'context_length_exceeded',
    );
  }
  if (requestedMaxTokens !== undefined && promptTokens + requestedMaxTokens > contextLength) {
    throw new InvalidRequestError(
      `This model's maximum context length is ${contextLength} tokens. However, you requested ` +
        `${promptTokens + requestedMaxTokens} tokens (${promptTokens} in the prompt, ${requestedMaxTokens} for ` +
        'the completion). Please reduce the prompt or max_tokens.',
      'max_tokens',
      'context_length_exceeded',
    );
  }
  const maxTokens = requestedMaxTokens ?? contextLength - promptTokens;
  if (minTokens > maxTokens) {
    throw new InvalidRequestError(
      `min_tokens (${minTokens}) must not exceed max_tokens (${maxTokens})`,
      'min_tokens',
    );
  }
  return maxTokens;
}
