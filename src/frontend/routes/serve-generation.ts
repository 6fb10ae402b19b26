/**
 * Drives one generation request to the client, streaming (SSE) or not, for any endpoint's response shape.
 * The endpoint only says how a chunk and a final response look (`ResponseShape`); this file owns the
 * flow: run the text stream, send chunks as they come, add the usage chunk, map a mid-stream failure
 * to an error event. Like a proxy's response pump, shared by every upstream route.
 */
import type { EngineRequest } from '../../protocols/engine.ts';
import { asRequestId } from '../../protocols/ids.ts';
import type { GenerationParams, OpenAiFinishReason, Usage } from '../../protocols/openai.ts';
import { sessionIdOf, toEngineRequest } from '../engine-request.ts';
import { toErrorResponse } from '../http-errors.ts';
import { resolveMaxTokens } from '../preprocessor.ts';
import type { RequestContext } from '../request-context.ts';
import { sendJson } from '../request-context.ts';
import type { ServedModel } from '../served-model.ts';
import { SseWriter } from '../sse.ts';
import { streamText, type TokenLogprobText } from '../text-stream.ts';

/** How one endpoint formats its stream chunks and its whole response. */
export interface ResponseShape {
  /** Chunks sent before any text (chat sends the assistant role first). */
  openingChunks(): object[];
  /** A stream chunk; returns null when there is nothing worth sending (empty text, no logprobs). */
  chunk(text: string, logprobs: TokenLogprobText[], finishReason: OpenAiFinishReason | null): object | null;
  /** The include_usage chunk: empty choices plus usage. */
  usageChunk(usage: Usage): object;
  /** The non-streaming response. */
  complete(
    text: string,
    logprobs: TokenLogprobText[],
    finishReason: OpenAiFinishReason,
    usage: Usage,
  ): object;
}

export interface GenerationJob {
  request: EngineRequest;
  stop: readonly string[];
  skipSpecialTokens: boolean;
  stream: boolean;
  includeUsage: boolean;
  shape: ResponseShape;
}

/**
 * What both OpenAI generation endpoints do once the prompt is token ids: size the output to the context,
 * record the request's outcome fields, translate the body into an engine request and serve it.
 */
export async function serveOpenAiRequest(
  model: ServedModel,
  ctx: RequestContext,
  body: GenerationParams,
  prompt: { promptTokenIds: number[]; logprobs: number | undefined; shape: ResponseShape },
): Promise<void> {
  const { promptTokenIds } = prompt;
  const { contextLength } = model.engine.info;
  const maxTokens = resolveMaxTokens(promptTokenIds.length, body.max_tokens, contextLength, body.min_tokens);
  Object.assign(ctx.outcome, {
    prompt_tokens: promptTokenIds.length,
    max_tokens: maxTokens,
    stream: body.stream,
  });
  const request = toEngineRequest({
    requestId: asRequestId(ctx.requestId),
    promptTokenIds,
    maxTokens,
    params: body,
    eosTokenIds: model.eosTokenIds,
    sessionId: sessionIdOf(ctx, body),
    logprobs: prompt.logprobs,
  });
  await serveGeneration(model, ctx, {
    request,
    stop: body.stop,
    skipSpecialTokens: body.skip_special_tokens,
    stream: body.stream,
    includeUsage: body.stream_options?.include_usage ?? false,
    shape: prompt.shape,
  });
}

function usageOf(promptTokens: number, completionTokens: number, cachedTokens: number): Usage {
  return {
    prompt_tokens: promptTokens,
    completion_tokens: completionTokens,
    total_tokens: promptTokens + completionTokens,
    prompt_tokens_details: { cached_tokens: cachedTokens },
  };
}

function recordUsage(ctx: RequestContext, usage: Usage): void {
  if (!ctx.observation) return;
  ctx.observation.usage = {
    promptTokens: usage.prompt_tokens,
    completionTokens: usage.completion_tokens,
    cachedTokens: usage.prompt_tokens_details.cached_tokens,
  };
}

export async function serveGeneration(
  model: ServedModel,
  ctx: RequestContext,
  job: GenerationJob,
): Promise<void> {
  const events = streamText({
    engine: model.engine,
    tokenizer: model.tokenizer,
    request: job.request,
    stop: job.stop,
    skipSpecialTokens: job.skipSpecialTokens,
    signal: ctx.signal,
    onToken: () => ctx.observation?.token(),
  });
  if (ctx.observation) ctx.observation.stream = job.stream;
  if (job.stream) await pumpStream(ctx, job, events);
  else await collectAndRespond(ctx, job, events);
}

type Events = ReturnType<typeof streamText>;

async function collectAndRespond(ctx: RequestContext, job: GenerationJob, events: Events): Promise<void> {
  let text = '';
  const logprobs: TokenLogprobText[] = [];
  for await (const event of events) {
    if (event.kind === 'delta') {
      text += event.text;
      logprobs.push(...event.logprobs);
      continue;
    }
    const usage = usageOf(job.request.promptTokenIds.length, event.completionTokens, event.cachedTokens);
    recordUsage(ctx, usage);
    Object.assign(ctx.outcome, {
      finish_reason: event.finishReason,
      completion_tokens: event.completionTokens,
    });
    sendJson(ctx.res, 200, job.shape.complete(text, logprobs, event.finishReason, usage), {
      'x-request-id': ctx.requestId,
    });
  }
}

/**
 * Headers go out with the first event, so a request the engine rejects at once still gets a real
 * HTTP status; after that, a failure can only be reported as an SSE error event.
 */
async function pumpStream(ctx: RequestContext, job: GenerationJob, events: Events): Promise<void> {
  const sse = new SseWriter(ctx.res);
  const withUsageField = (chunk: object): object => (job.includeUsage ? { ...chunk, usage: null } : chunk);
  let opened = false;
  const open = async (): Promise<void> => {
    if (opened) return;
    opened = true;
    ctx.res.setHeader('x-request-id', ctx.requestId);
    sse.open();
    for (const chunk of job.shape.openingChunks()) await sse.send(withUsageField(chunk));
  };
  try {
    for await (const event of events) {
      await open();
      if (event.kind === 'delta') {
        const chunk = job.shape.chunk(event.text, event.logprobs, null);
        if (chunk) await sse.send(withUsageField(chunk));
        continue;
      }
      Object.assign(ctx.outcome, {
        finish_reason: event.finishReason,
        completion_tokens: event.completionTokens,
      });
      recordUsage(
        ctx,
        usageOf(job.request.promptTokenIds.length, event.completionTokens, event.cachedTokens),
      );
      await sse.send(withUsageField(job.shape.chunk('', [], event.finishReason) ?? {}));
      if (job.includeUsage) {
        const usage = usageOf(job.request.promptTokenIds.length, event.completionTokens, event.cachedTokens);
        await sse.send(job.shape.usageChunk(usage));
      }
      await sse.done();
    }
  } catch (err) {
    if (!opened) throw err;
    const reason = ctx.cutReason ?? err;
    ctx.log.error('stream failed after headers were sent', { error: reason });
    ctx.outcome.error = reason instanceof Error ? reason.message : String(reason);
    await sse.send(toErrorResponse(reason).body);
    await sse.done();
    return;
  }
  // The server cut the stream (deadline, shutdown): the engine stopped quietly, the client is told why.
  if (ctx.cutReason && opened && !sse.closed) {
    ctx.log.warn('stream cut by the server', { reason: ctx.cutReason.message });
    ctx.outcome.error = ctx.cutReason.message;
    await sse.send(toErrorResponse(ctx.cutReason).body);
    await sse.done();
  }
}
