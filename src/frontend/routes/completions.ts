/**
 * POST /v1/completions: a text prompt (or token ids) → engine → text, as one `text_completion` response
 * or as SSE chunks of the same shape (OpenAI's legacy endpoint uses one object type for both).
 */
import type { Completion, CompletionRequest } from '../../protocols/openai.ts';
import { parseCompletionRequest } from '../../protocols/openai-validation.ts';
import { readJsonBody } from '../body.ts';
import type { RequestContext, ServerState } from '../request-context.ts';
import { completionLogprobs } from './logprobs-format.ts';
import { resolveModel } from './model-check.ts';
import { type ResponseShape, serveOpenAiRequest } from './serve-generation.ts';

export async function handleCompletions(server: ServerState, ctx: RequestContext): Promise<void> {
  const body = parseCompletionRequest(await readJsonBody(ctx.req, server.maxBodyBytes));
  const model = resolveModel(server, ctx, body.model);
  await serveOpenAiRequest(model, ctx, body, {
    promptTokenIds: await server.prompts.completion(model, body.prompt),
    logprobs: body.logprobs,
    shape: completionShape(model.name, ctx, body),
  });
}

function completionShape(model: string, ctx: RequestContext, body: CompletionRequest): ResponseShape {
  const head = { id: ctx.requestId, object: 'text_completion' as const, created: ctx.created, model };
  const wantsLogprobs = body.logprobs !== undefined;
  let streamedChars = 0;
  return {
    openingChunks: () => [],
    chunk: (text, logprobs, finishReason): Completion | null => {
      if (text === '' && logprobs.length === 0 && finishReason === null) return null;
      const lp = wantsLogprobs && logprobs.length > 0 ? completionLogprobs(logprobs, streamedChars) : null;
      streamedChars += text.length;
      return { ...head, choices: [{ index: 0, text, logprobs: lp, finish_reason: finishReason }] };
    },
    usageChunk: (usage): Completion => ({ ...head, choices: [], usage }),
    complete: (text, logprobs, finishReason, usage): Completion => ({
      ...head,
      choices: [
        {
          index: 0,
          text,
          logprobs: wantsLogprobs ? completionLogprobs(logprobs, 0) : null,
          finish_reason: finishReason,
        },
      ],
      usage,
    }),
  };
}
