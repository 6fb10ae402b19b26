/**
 * POST /v1/completions: a text prompt (or token ids) → engine → text, as one `text_completion` response
 * or as SSE chunks of the same shape (OpenAI's legacy endpoint uses one object type for both).
 * `echo` returns the prompt's text before each choice's completion (as its first chunk when streaming);
 * with `logprobs`, the prompt tokens' logprobs come first too (the first one null), scored by the engine.
 */
import type { Completion, CompletionLogprobs, CompletionRequest } from '../../protocols/openai.ts';
import { parseCompletionRequest } from '../../protocols/openai-validation.ts';
import { readJsonBody } from '../body.ts';
import type { RequestContext, ServerState } from '../request-context.ts';
import type { ServedModel } from '../served-model.ts';
import { completionLogprobs } from './logprobs-format.ts';
import { resolveModel } from './model-check.ts';
import { type ResponseShape, serveOpenAiRequest, systemFingerprint } from './serve-generation.ts';

export async function handleCompletions(server: ServerState, ctx: RequestContext): Promise<void> {
  const body = parseCompletionRequest(await readJsonBody(ctx.req, server.maxBodyBytes));
  const model = resolveModel(server, ctx, body.model);
  const promptTokenIds = await server.prompts.completion(model, body.prompt);
  const echoText = !body.echo
    ? ''
    : typeof body.prompt === 'string'
      ? body.prompt
      : model.tokenizer.decode(promptTokenIds, { skipSpecialTokens: body.skip_special_tokens });
  await serveOpenAiRequest(model, ctx, body, {
    promptTokenIds,
    promptParam: 'prompt',
    logprobs: body.logprobs,
    // OpenAI answers echo + logprobs with the prompt tokens' logprobs first (the first one null).
    promptLogprobs: body.echo && body.logprobs !== undefined ? body.logprobs : undefined,
    shape: completionShape(model, ctx, body, echoText),
  });
}

function completionShape(
  model: ServedModel,
  ctx: RequestContext,
  body: CompletionRequest,
  echoText: string,
): ResponseShape {
  const head = {
    id: ctx.requestId,
    object: 'text_completion' as const,
    created: ctx.created,
    model: model.name,
    system_fingerprint: systemFingerprint(model),
  };
  const wantsLogprobs = body.logprobs !== undefined;
  // Offsets count from the start of the returned text, which begins with the echoed prompt.
  const streamedChars = new Map<number, number>();
  return {
    openingChunks: (index): Completion[] =>
      echoText === ''
        ? []
        : [{ ...head, choices: [{ index, text: echoText, logprobs: null, finish_reason: null }] }],
    chunk: (index, text, logprobs, finishReason, promptLogprobs): Completion | null => {
      if (text === '' && logprobs.length === 0 && finishReason === null && !promptLogprobs) return null;
      const offset = streamedChars.get(index) ?? echoText.length;
      // The prompt's scores ride on the first chunk after the echoed text, offsets from 0 again.
      const lp = !wantsLogprobs
        ? null
        : promptLogprobs
          ? joinLogprobs(completionLogprobs(promptLogprobs, 0), completionLogprobs(logprobs, offset))
          : logprobs.length > 0
            ? completionLogprobs(logprobs, offset)
            : null;
      streamedChars.set(index, offset + text.length);
      return { ...head, choices: [{ index, text, logprobs: lp, finish_reason: finishReason }] };
    },
    usageChunk: (usage): Completion => ({ ...head, choices: [], usage }),
    complete: (choices, usage): Completion => ({
      ...head,
      choices: choices.map((c) => ({
        index: c.index,
        text: echoText + c.text,
        logprobs: !wantsLogprobs
          ? null
          : c.promptLogprobs
            ? joinLogprobs(
                completionLogprobs(c.promptLogprobs, 0),
                completionLogprobs(c.logprobs, echoText.length),
              )
            : completionLogprobs(c.logprobs, echoText.length),
        finish_reason: c.finishReason,
      })),
      usage,
    }),
  };
}

function joinLogprobs(a: CompletionLogprobs, b: CompletionLogprobs): CompletionLogprobs {
  return {
    tokens: [...a.tokens, ...b.tokens],
    token_logprobs: [...a.token_logprobs, ...b.token_logprobs],
    top_logprobs: [...a.top_logprobs, ...b.top_logprobs],
    text_offset: [...a.text_offset, ...b.text_offset],
  };
}
