/**
 * Drives one generation request to the client, streaming (SSE) or not, for any endpoint's response shape.
 * The endpoint only says how a chunk and a final response look (`ResponseShape`); this file owns the
 * flow: run the text stream, send chunks as they come, add the usage chunk, map a mid-stream failure
 * to an error event. Like a proxy's response pump, shared by every upstream route.
 */
import { createHash } from 'node:crypto';
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
import { InvalidRequestError } from '../../util/errors.ts';
import { type ChoiceEvent, mergeChoiceStreams } from '../choice-streams.ts';
import {
  type PromptLogprobText,
  streamText,
  type TextStreamEvent,
  type TokenLogprobText,
} from '../text-stream.ts';

/** One choice's whole output (non-streaming responses). */
export interface ChoiceResult {
  index: number;
  text: string;
  logprobs: TokenLogprobText[];
  /** The prompt's scores (echo + logprobs), else undefined. */
  promptLogprobs?: PromptLogprobText[];
  finishReason: OpenAiFinishReason;
}

/** How one endpoint formats its stream chunks and its whole response; choices are told apart by index. */
export interface ResponseShape {
  /** Chunks sent for a choice before any text (chat sends the assistant role first). */
  openingChunks(index: number): object[];
  /** A stream chunk; returns null when there is nothing worth sending (empty text, no logprobs). */
  chunk(
    index: number,
    text: string,
    logprobs: TokenLogprobText[],
    finishReason: OpenAiFinishReason | null,
    /** The prompt's scores, on the choice's first chunk when the request scores its prompt. */
    promptLogprobs?: PromptLogprobText[],
  ): object | null;
  /** The include_usage chunk: empty choices plus usage. */
  usageChunk(usage: Usage): object;
  /** The non-streaming response, choices in index order. */
  complete(choices: ChoiceResult[], usage: Usage): object;
}

export interface GenerationJob {
  /** One engine request per choice (`n`), all with the same prompt. */
  requests: EngineRequest[];
  stop: readonly string[];
  skipSpecialTokens: boolean;
  stream: boolean;
  includeUsage: boolean;
  shape: ResponseShape;
}

/**
 * What both OpenAI generation endpoints do once the prompt is token ids: size the output to the context,
 * record the request's outcome fields, translate the body into engine requests (one per choice) and serve
 * them.
 */
export async function serveOpenAiRequest(
  model: ServedModel,
  ctx: RequestContext,
  body: GenerationParams,
  prompt: {
    promptTokenIds: number[];
    /** The field the prompt came from, named in errors about its length. */
    promptParam: 'messages' | 'prompt';
    logprobs: number | undefined;
    /** Score the prompt with this many alternatives (completions' echo + logprobs). */
    promptLogprobs?: number;
    shape: ResponseShape;
    /** The JSON Schema (text) the output must match when it is not `response_format`'s (forced tool calls). */
    guidedSchema?: string;
  },
): Promise<void> {
  const { promptTokenIds } = prompt;
  const { contextLength } = model.engine.info;
  checkLogitBias(body.logit_bias, model.engine.info.vocabSize);
  const maxTokens = resolveMaxTokens(promptTokenIds.length, body.max_tokens, contextLength, {
    minTokens: body.min_tokens,
    promptParam: prompt.promptParam,
  });
  Object.assign(ctx.outcome, {
    prompt_tokens: promptTokenIds.length,
    max_tokens: maxTokens,
    stream: body.stream,
    ...(body.n > 1 ? { n: body.n } : {}),
  });
  const request = toEngineRequest({
    requestId: asRequestId(ctx.requestId),
    promptTokenIds,
    maxTokens,
    params: body,
    eosTokenIds: model.eosTokenIds,
    sessionId: sessionIdOf(ctx, body),
    logprobs: prompt.logprobs,
    promptLogprobs: prompt.promptLogprobs,
    guidedSchema: prompt.guidedSchema,
  });
  await serveGeneration(model, ctx, {
    requests: choiceRequests(request, body.n),
    stop: body.stop,
    skipSpecialTokens: body.skip_special_tokens,
    stream: body.stream,
    includeUsage: body.stream_options?.include_usage ?? false,
    shape: prompt.shape,
  });
}

/**
 * One engine request per choice: its own request id (`<id>-<i>` after the first) so engines keep the
 * sequences apart, and with a seed, seed + i, so seeded choices differ from each other yet repeat.
 */
function choiceRequests(request: EngineRequest, n: number): EngineRequest[] {
  return Array.from({ length: n }, (_, i) => {
    if (i === 0) return request;
    const seed = request.sampling.seed;
    return {
      ...request,
      requestId: asRequestId(`${request.requestId}-${i}`),
      sampling: seed === undefined ? request.sampling : { ...request.sampling, seed: seed + i },
    };
  });
}

/** OpenAI's usage: the prompt counted once however many choices shared it; completions summed. */
function usageOf(promptTokens: number, completionTokens: number, cachedTokens: number): Usage {
  return {
    prompt_tokens: promptTokens,
    completion_tokens: completionTokens,
    total_tokens: promptTokens + completionTokens,
    prompt_tokens_details: { cached_tokens: cachedTokens, audio_tokens: 0 },
    completion_tokens_details: {
      reasoning_tokens: 0,
      audio_tokens: 0,
      accepted_prediction_tokens: 0,
      rejected_prediction_tokens: 0,
    },
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

type Finish = Extract<TextStreamEvent, { kind: 'finish' }>;

/**
 * The finished choices' usage. `cached_tokens` is choice 0's (the prompt is counted once); what the other
 * choices found cached, the sharing of the prompt's blocks, is logged.
 */
function finishUsage(ctx: RequestContext, job: GenerationJob, finishes: Finish[]): Usage {
  const completionTokens = finishes.reduce((sum, f) => sum + f.completionTokens, 0);
  const usage = usageOf(job.requests[0]!.promptTokenIds.length, completionTokens, finishes[0]!.cachedTokens);
  recordUsage(ctx, usage);
  Object.assign(ctx.outcome, {
    finish_reason: finishes[0]!.finishReason,
    completion_tokens: completionTokens,
  });
  if (finishes.length > 1) {
    ctx.log.info('parallel sampling', {
      n: finishes.length,
      promptTokens: usage.prompt_tokens,
      cachedTokensPerChoice: finishes.map((f) => f.cachedTokens),
    });
  }
  return usage;
}

export async function serveGeneration(
  model: ServedModel,
  ctx: RequestContext,
  job: GenerationJob,
): Promise<void> {
  const stop = new AbortController();
  const signal = job.requests.length === 1 ? ctx.signal : AbortSignal.any([ctx.signal, stop.signal]);
  const start = (index: number) =>
    streamText({
      engine: model.engine,
      tokenizer: model.tokenizer,
      request: job.requests[index]!,
      stop: job.stop,
      skipSpecialTokens: job.skipSpecialTokens,
      signal,
      wholeOutput: !job.stream,
      onToken: () => ctx.observation?.token(),
    });
  const events = mergeChoiceStreams(job.requests.length, start, stop);
  if (ctx.observation) ctx.observation.stream = job.stream;
  if (job.stream) await pumpStream(ctx, job, events);
  else await collectAndRespond(ctx, job, events);
}

type Events = AsyncGenerator<ChoiceEvent>;

async function collectAndRespond(ctx: RequestContext, job: GenerationJob, events: Events): Promise<void> {
  const choices: ChoiceResult[] = job.requests.map((_, index) => ({
    index,
    text: '',
    logprobs: [],
    finishReason: 'stop',
  }));
  const finishes: Finish[] = [];
  for await (const { index, event } of events) {
    const choice = choices[index]!;
    if (event.kind === 'delta') {
      choice.text += event.text;
      choice.logprobs.push(...event.logprobs);
      if (event.prompt) choice.promptLogprobs = event.prompt;
      continue;
    }
    choice.finishReason = event.finishReason;
    finishes[index] = event;
  }
  // A client that went away ends the choices without a finish: there is no one to answer.
  if (finishes.filter(Boolean).length < choices.length) return;
  const usage = finishUsage(ctx, job, finishes);
  sendJson(ctx.res, 200, job.shape.complete(choices, usage), { 'x-request-id': ctx.requestId });
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
    for (let i = 0; i < job.requests.length; i++) {
      for (const chunk of job.shape.openingChunks(i)) await sse.send(withUsageField(chunk));
    }
  };
  const finishes: Finish[] = [];
  try {
    for await (const { index, event } of events) {
      await open();
      if (event.kind === 'delta') {
        const chunk = job.shape.chunk(index, event.text, event.logprobs, null, event.prompt);
        if (chunk) await sse.send(withUsageField(chunk));
        continue;
      }
      finishes[index] = event;
      await sse.send(withUsageField(job.shape.chunk(index, '', [], event.finishReason) ?? {}));
    }
    if (finishes.filter(Boolean).length === job.requests.length) {
      const usage = finishUsage(ctx, job, finishes);
      if (job.includeUsage) await sse.send(job.shape.usageChunk(usage));
      await sse.done();
      return;
    }
    // Not every choice finished: the client went away (nothing to send), or the server cut it (below).
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

/** Every biased token must be one of the model's (the engine indexes its logits with it). */
function checkLogitBias(bias: readonly [number, number][] | undefined, vocabSize: number): void {
  const bad = bias?.find(([id]) => id >= vocabSize);
  if (bad === undefined) return;
  throw new InvalidRequestError(
    `'logit_bias' names token ${bad[0]}, which is not a token id of this model (vocabulary size ${vocabSize})`,
    'logit_bias',
  );
}

/**
 * OpenAI's `system_fingerprint`: names the backend configuration that, with a seed, decides the output.
 * Here: the served model and what the engine reports of it, hashed; it changes when those do.
 */
export function systemFingerprint(model: ServedModel): string {
  const { name, contextLength, vocabSize, eosTokenIds } = model.engine.info;
  const config = JSON.stringify([model.name, name, contextLength, vocabSize, eosTokenIds]);
  let fingerprint = fingerprints.get(config);
  if (fingerprint === undefined) {
    fingerprint = `fp_${createHash('sha256').update(config).digest('hex').slice(0, 10)}`;
    // A handful of models per frontend; a bound in case configurations churn (a model re-registered often).
    if (fingerprints.size >= MAX_FINGERPRINTS) fingerprints.clear();
    fingerprints.set(config, fingerprint);
  }
  return fingerprint;
}

/**
 * Fingerprints by the configuration they hash: a sha256 per response was 1.3 % of the frontend's CPU at
 * 3,000 req/s. Keyed by the whole configuration, so a changed model still gets a new fingerprint.
 */
const fingerprints = new Map<string, string>();
const MAX_FINGERPRINTS = 64;
