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

/** Chat messages → prompt token ids. */
export function chatPromptIds(tokenizer: Tokenizer, messages: readonly ChatMessageParam[]): number[] {
  const { text, addSpecialTokens } = chatPromptText(tokenizer, messages);
  return tokenizer.encode(text, { addSpecialTokens });
}

/**
 * Chat messages → the prompt text and how to encode it (prompt-encoder.ts sizes it before tokenizing).
 * Templates that write the BOS text themselves must not get a second BOS from the tokenizer.
 */
export function chatPromptText(
  tokenizer: Tokenizer,
  messages: readonly ChatMessageParam[],
): { text: string; addSpecialTokens: boolean } {
  if (!tokenizer.hasChatTemplate) {
    throw new InvalidRequestError(
      'this model has no chat template (no chat_template.jinja or chat_template in tokenizer_config.json): ' +
        'use POST /v1/completions with a plain prompt instead',
      'messages',
    );
  }
  const chat: ChatMessage[] = messages.map((m) => ({ ...m }));
  const text = tokenizer.applyChatTemplate(chat, { addGenerationPrompt: true });
  return { text, addSpecialTokens: !startsWithBos(tokenizer, text) };
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

/** Checks the prompt fits the context and returns the max_tokens to use. */
export function resolveMaxTokens(
  promptTokens: number,
  requestedMaxTokens: number | undefined,
  contextLength: number,
  minTokens = 0,
): number {
  if (promptTokens === 0) {
    throw new InvalidRequestError('the prompt is empty (0 tokens): send some text', 'prompt');
  }
  if (promptTokens >= contextLength) {
    throw new InvalidRequestError(
      `This model's maximum context length is ${contextLength} tokens, but the prompt is ${promptTokens} ` +
        'tokens, leaving no room for output. Please shorten the prompt.',
      'messages',
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
