/**
 * POST /v1/completions: a text prompt (or token ids) → engine → text, as one `text_completion` response
 * or as SSE chunks of the same shape (OpenAI's legacy endpoint uses one object type for both).
 * `echo` returns the prompt's text before each choice's completion (as its first chunk when streaming).
 */
import type { Completion, CompletionRequest } from '../../protocols/openai.ts';
import { parseCompletionRequest } from '../../protocols/openai-validation.ts';
import { InvalidRequestError } from '../../util/errors.ts';
import { readJsonBody } from '../body.ts';
import type { RequestContext, ServerState } from '../request-context.ts';
import type { ServedModel } from '../served-model.ts';
import { completionLogprobs } from './logprobs-format.ts';
import { resolveModel } from './model-check.ts';
import { type ResponseShape, serveOpenAiRequest, systemFingerprint } from './serve-generation.ts';

export async function handleCompletions(server: ServerState, ctx: RequestContext): Promise<void> {
  const body = parseCompletionRequest(await readJsonBody(ctx.req, server.maxBodyBytes));
  if (body.echo && body.logprobs !== undefined) {
    // OpenAI answers echo + logprobs with the prompt tokens' logprobs too; engines here score only
    // what they generate.
    throw new InvalidRequestError(
      "'echo' with 'logprobs' is not supported: the prompt's log-probabilities are not computed here " +
        '(drop one of them)',
      'echo',
    );
  }
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
  const streamedChars = new Map<number, number>();
  return {
    openingChunks: (index): Completion[] =>
      echoText === ''
        ? []
        : [{ ...head, choices: [{ index, text: echoText, logprobs: null, finish_reason: null }] }],
    chunk: (index, text, logprobs, finishReason): Completion | null => {
      if (text === '' && logprobs.length === 0 && finishReason === null) return null;
      const offset = streamedChars.get(index) ?? 0;
      const lp = wantsLogprobs && logprobs.length > 0 ? completionLogprobs(logprobs, offset) : null;
      streamedChars.set(index, offset + text.length);
      return { ...head, choices: [{ index, text, logprobs: lp, finish_reason: finishReason }] };
    },
    usageChunk: (usage): Completion => ({ ...head, choices: [], usage }),
    complete: (choices, usage): Completion => ({
      ...head,
      choices: choices.map((c) => ({
        index: c.index,
        text: echoText + c.text,
        logprobs: wantsLogprobs ? completionLogprobs(c.logprobs, 0) : null,
        finish_reason: c.finishReason,
      })),
      usage,
    }),
  };
}
