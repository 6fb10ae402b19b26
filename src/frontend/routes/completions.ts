/**
 * POST /v1/completions: a text prompt (or token ids) → engine → text, as one `text_completion` response
 * or as SSE chunks of the same shape (OpenAI's legacy endpoint uses one object type for both).
 * `echo` returns the prompt's text before each choice's completion (as its first chunk when streaming);
 * with `logprobs`, the prompt tokens' logprobs come first too (the first one null), scored by the engine.
 */
import type {
  Completion,
  CompletionLogprobs,
  CompletionRequest,
  VllmLogprob,
} from '../../protocols/openai.ts';
import type { PromptLogprobText } from '../text-stream.ts';
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
    promptLogprobs: promptScoresWanted(body),
    shape: completionShape(model, ctx, body, echoText),
  });
}

/**
 * How many alternatives the engine scores per prompt position: OpenAI answers echo + logprobs with the
 * prompt tokens' logprobs first (the first one null); vLLM's `prompt_logprobs` asks for its own count.
 */
function promptScoresWanted(body: CompletionRequest): number | undefined {
  const echo = body.echo && body.logprobs !== undefined ? body.logprobs : undefined;
  if (echo === undefined) return body.prompt_logprobs;
  return body.prompt_logprobs === undefined ? echo : Math.max(echo, body.prompt_logprobs);
}

/** The prompt's scores with at most `n` alternatives each (the engine scored the larger of two asks). */
function withTop(entries: readonly PromptLogprobText[], n: number): PromptLogprobText[] {
  return entries.map((e) => (e.top === null ? e : { ...e, top: e.top.slice(0, n) }));
}

/** vLLM's `prompt_logprobs`: null first, then {token id: {logprob, rank, decoded_token}} (chosen, then top n). */
function vllmPromptLogprobs(
  entries: readonly PromptLogprobText[],
  n: number,
): (Record<string, VllmLogprob> | null)[] {
  return entries.map((e) => {
    if (e.logprob === null || e.top === null || e.rank === null) return null;
    const out: Record<string, VllmLogprob> = {
      [e.tokenId]: { logprob: e.logprob, rank: e.rank, decoded_token: e.token },
    };
    e.top.slice(0, n).forEach((t, i) => {
      if (!(t.tokenId in out)) out[t.tokenId] = { logprob: t.logprob, rank: i + 1, decoded_token: t.token };
    });
    return out;
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
  const echoScores = (p: readonly PromptLogprobText[] | undefined) =>
    body.echo && p ? withTop(p, body.logprobs ?? 0) : undefined;
  const vllmField = (p: readonly PromptLogprobText[] | undefined) =>
    body.prompt_logprobs !== undefined && p
      ? { prompt_logprobs: vllmPromptLogprobs(p, body.prompt_logprobs) }
      : {};
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
      const echoed = echoScores(promptLogprobs);
      const lp = !wantsLogprobs
        ? null
        : echoed
          ? joinLogprobs(completionLogprobs(echoed, 0), completionLogprobs(logprobs, offset))
          : logprobs.length > 0
            ? completionLogprobs(logprobs, offset)
            : null;
      streamedChars.set(index, offset + text.length);
      return {
        ...head,
        choices: [{ index, text, logprobs: lp, finish_reason: finishReason, ...vllmField(promptLogprobs) }],
      };
    },
    usageChunk: (usage): Completion => ({ ...head, choices: [], usage }),
    complete: (choices, usage): Completion => ({
      ...head,
      choices: choices.map((c) => ({
        index: c.index,
        text: echoText + c.text,
        logprobs: !wantsLogprobs
          ? null
          : echoScores(c.promptLogprobs)
            ? joinLogprobs(
                completionLogprobs(echoScores(c.promptLogprobs)!, 0),
                completionLogprobs(c.logprobs, echoText.length),
              )
            : completionLogprobs(c.logprobs, echoText.length),
        finish_reason: c.finishReason,
        ...vllmField(c.promptLogprobs),
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
