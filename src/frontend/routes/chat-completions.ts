/**
 * POST /v1/chat/completions: messages → chat template → token ids → engine → text, as one JSON response
 * or as `chat.completion.chunk` SSE events (role chunk, content chunks, finish chunk per choice, optional
 * usage chunk). With tools (`tool-calls.ts`), each choice's text is held until it ends and then sent as
 * `tool_calls` (or as content, when the model called nothing).
 */
import type {
  ChatCompletion,
  ChatCompletionChunk,
  ChatCompletionRequest,
  OpenAiFinishReason,
  ToolCall,
} from '../../protocols/openai.ts';
import { parseChatCompletionRequest } from '../../protocols/openai-validation.ts';
import { InvalidRequestError } from '../../util/errors.ts';
import { readJsonBody } from '../body.ts';
import { templateMessages } from '../preprocessor.ts';
import type { RequestContext, ServerState } from '../request-context.ts';
import type { ServedModel } from '../served-model.ts';
import {
  parseForcedCalls,
  parseHermesCalls,
  type ToolMode,
  templateTools,
  toolModeOf,
} from '../tool-calls.ts';
import { chatLogprobs } from './logprobs-format.ts';
import { resolveModel } from './model-check.ts';
import { type ResponseShape, serveOpenAiRequest, systemFingerprint } from './serve-generation.ts';

export async function handleChatCompletions(server: ServerState, ctx: RequestContext): Promise<void> {
  const body = parseChatCompletionRequest(await readJsonBody(ctx.req, server.maxBodyBytes));
  const model = resolveModel(server, ctx, body.model);
  const tools = toolModeOf(body, model.tokenizer, templateMessages(body.messages));
  if (tools.kind === 'forced' && body.response_format && body.response_format.type !== 'text') {
    throw new InvalidRequestError(
      "'response_format' cannot be combined with a forced tool_choice: the output is already the call's JSON",
      'response_format',
    );
  }
  await serveOpenAiRequest(model, ctx, body, {
    promptTokenIds: await server.prompts.chat(model, body.messages, {
      tools: tools.kind === 'none' ? undefined : templateTools(tools.tools),
    }),
    promptParam: 'messages',
    logprobs: body.logprobs ? (body.top_logprobs ?? 0) : undefined,
    shape: chatShape(model, ctx, body, tools),
    ...(tools.kind === 'forced' ? { guidedSchema: tools.schema } : {}),
  });
}

/** A finished choice's text as OpenAI's message fields: content, or tool calls. */
function toolOutput(
  tools: ToolMode,
  text: string,
  finishReason: OpenAiFinishReason,
): { content: string | null; calls: ToolCall[]; finishReason: OpenAiFinishReason } {
  if (tools.kind === 'none') return { content: text, calls: [], finishReason };
  const parsed =
    tools.kind === 'forced' ? { content: null, calls: parseForcedCalls(text) } : parseHermesCalls(text);
  if (parsed.calls.length === 0) return { content: text, calls: [], finishReason };
  // OpenAI: 'tool_calls' when the model chose to call; 'stop' when a named function was forced.
  const named = tools.kind === 'forced' && tools.named;
  return { content: parsed.content, calls: parsed.calls, finishReason: named ? 'stop' : 'tool_calls' };
}

function chatShape(
  model: ServedModel,
  ctx: RequestContext,
  body: ChatCompletionRequest,
  tools: ToolMode,
): ResponseShape {
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
  const held = new Map<number, string>(); // with tools: each choice's text until it ends
  const toolChunks = (index: number, finishReason: OpenAiFinishReason): ChatCompletionChunk => {
    const out = toolOutput(tools, held.get(index) ?? '', finishReason);
    const delta =
      out.calls.length > 0
        ? {
            ...(out.content ? { content: out.content } : {}),
            tool_calls: out.calls.map((call, i) => ({ index: i, ...call })),
          }
        : { content: out.content };
    return chunk([{ index, delta, logprobs: null, finish_reason: out.finishReason }]);
  };
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
      if (tools.kind !== 'none') {
        held.set(index, (held.get(index) ?? '') + text);
        return finishReason === null ? null : toolChunks(index, finishReason);
      }
      if (text === '' && logprobs.length === 0 && finishReason === null) return null;
      const delta = text === '' && finishReason !== null ? {} : { content: text };
      const lp = body.logprobs && logprobs.length > 0 ? chatLogprobs(logprobs) : null;
      return chunk([{ index, delta, logprobs: lp, finish_reason: finishReason }]);
    },
    usageChunk: (usage) => ({ ...chunk([]), usage }),
    complete: (choices, usage): ChatCompletion => ({
      ...head,
      object: 'chat.completion',
      choices: choices.map((c) => {
        const out = toolOutput(tools, c.text, c.finishReason);
        return {
          index: c.index,
          message: {
            role: 'assistant',
            content: out.content,
            refusal: null,
            ...(out.calls.length > 0 ? { tool_calls: out.calls } : {}),
          },
          logprobs: body.logprobs ? chatLogprobs(c.logprobs) : null,
          finish_reason: out.finishReason,
        };
      }),
      usage,
    }),
  };
}
