/**
 * POST /v1/chat/completions: messages → chat template → token ids → engine → text, as one JSON response
 * or as `chat.completion.chunk` SSE events (role chunk, content chunks, finish chunk per choice, optional
 * usage chunk).
 */
import type { ChatCompletion, ChatCompletionChunk, ChatCompletionRequest } from '../../protocols/openai.ts';
import { parseChatCompletionRequest } from '../../protocols/openai-validation.ts';
import { readJsonBody } from '../body.ts';
import { chatPromptIds } from '../preprocessor.ts';
import type { RequestContext, ServerState } from '../request-context.ts';
import type { ServedModel } from '../served-model.ts';
import { chatLogprobs } from './logprobs-format.ts';
import { resolveModel } from './model-check.ts';
import { type ResponseShape, serveOpenAiRequest, systemFingerprint } from './serve-generation.ts';

export async function handleChatCompletions(server: ServerState, ctx: RequestContext): Promise<void> {
  const body = parseChatCompletionRequest(await readJsonBody(ctx.req, server.maxBodyBytes));
  const model = resolveModel(server, ctx, body.model);
  await serveOpenAiRequest(model, ctx, body, {
    promptTokenIds: chatPromptIds(model.tokenizer, body.messages),
    promptParam: 'messages',
    logprobs: body.logprobs ? (body.top_logprobs ?? 0) : undefined,
    shape: chatShape(model, ctx, body),
  });
}

function chatShape(model: ServedModel, ctx: RequestContext, body: ChatCompletionRequest): ResponseShape {
  const head = {
    id: ctx.requestId,
    created: ctx.created,
    model: model.name,
    system_fingerprint: systemFingerprint(model),
  };
  const chunk = (choices: ChatCompletionChunk['choices']): ChatCompletionChunk => ({
    ...head,
    object: 'chat.completion.chunk',
    choices,
  });
  return {
    openingChunks: (index) => [
      chunk([
        {
          index,
          delta: { role: 'assistant', content: '', refusal: null },
          logprobs: null,
          finish_reason: null,
        },
      ]),
    ],
    chunk: (index, text, logprobs, finishReason) => {
      if (text === '' && logprobs.length === 0 && finishReason === null) return null;
      const delta = text === '' && finishReason !== null ? {} : { content: text };
      const lp = body.logprobs && logprobs.length > 0 ? chatLogprobs(logprobs) : null;
      return chunk([{ index, delta, logprobs: lp, finish_reason: finishReason }]);
    },
    usageChunk: (usage) => ({ ...chunk([]), usage }),
    complete: (choices, usage): ChatCompletion => ({
      ...head,
      object: 'chat.completion',
      choices: choices.map((c) => ({
        index: c.index,
        message: { role: 'assistant', content: c.text, refusal: null },
        logprobs: body.logprobs ? chatLogprobs(c.logprobs) : null,
        finish_reason: c.finishReason,
      })),
      usage,
    }),
  };
}
