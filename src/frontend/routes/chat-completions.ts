/**
 * POST /v1/chat/completions: messages → chat template → token ids → engine → text, as one JSON response
 * or as `chat.completion.chunk` SSE events (role chunk, content chunks, finish chunk, optional usage chunk).
 */
import type { ChatCompletion, ChatCompletionChunk, ChatCompletionRequest } from '../../protocols/openai.ts';
import { parseChatCompletionRequest } from '../../protocols/openai-validation.ts';
import { readJsonBody } from '../body.ts';
import type { RequestContext, ServerState } from '../request-context.ts';
import { chatLogprobs } from './logprobs-format.ts';
import { resolveModel } from './model-check.ts';
import { type ResponseShape, serveOpenAiRequest } from './serve-generation.ts';

export async function handleChatCompletions(server: ServerState, ctx: RequestContext): Promise<void> {
  const body = parseChatCompletionRequest(await readJsonBody(ctx.req, server.maxBodyBytes));
  const model = resolveModel(server, ctx, body.model);
  await serveOpenAiRequest(model, ctx, body, {
    promptTokenIds: await server.prompts.chat(model, body.messages),
    logprobs: body.logprobs ? (body.top_logprobs ?? 0) : undefined,
    shape: chatShape(model.name, ctx, body),
  });
}

function chatShape(model: string, ctx: RequestContext, body: ChatCompletionRequest): ResponseShape {
  const head = { id: ctx.requestId, created: ctx.created, model };
  const chunk = (choices: ChatCompletionChunk['choices']): ChatCompletionChunk => ({
    ...head,
    object: 'chat.completion.chunk',
    choices,
  });
  return {
    openingChunks: () => [
      chunk([{ index: 0, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null }]),
    ],
    chunk: (text, logprobs, finishReason) => {
      if (text === '' && logprobs.length === 0 && finishReason === null) return null;
      const delta = text === '' && finishReason !== null ? {} : { content: text };
      const lp = body.logprobs && logprobs.length > 0 ? chatLogprobs(logprobs) : null;
      return chunk([{ index: 0, delta, logprobs: lp, finish_reason: finishReason }]);
    },
    usageChunk: (usage) => ({ ...chunk([]), usage }),
    complete: (text, logprobs, finishReason, usage): ChatCompletion => ({
      ...head,
      object: 'chat.completion',
      choices: [
        {
          index: 0,
          message: { role: 'assistant', content: text },
          logprobs: body.logprobs ? chatLogprobs(logprobs) : null,
          finish_reason: finishReason,
        },
      ],
      usage,
    }),
  };
}
