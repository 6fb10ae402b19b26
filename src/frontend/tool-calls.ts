/**
 * Tool calling (`tools`, `tool_choice`) for chat completions. Two ways a model's output becomes
 * `tool_calls`, as in vLLM:
 *
 *   tool_choice 'required' or {function: {name}}   constrained decoding: the output is forced to JSON of
 *                                                   the call(s) (`toolCallSchema`), then parsed.
 *   tool_choice 'auto' (the default with tools)     the model decides, in its chat template's tool format;
 *                                                   this server parses Hermes-style calls
 *                                                   (`<tool_call>{"name", "arguments"}</tool_call>`: Qwen,
 *                                                   Hermes, many others). A template that does not render
 *                                                   `tools` into the prompt has no tool format: 400.
 *   tool_choice 'none'                              the tools are not offered; plain text.
 *
 * Like an API gateway that turns a backend's text protocol into structured responses: the template is the
 * backend's framing, the parser reads it back.
 */
import { randomBytes } from 'node:crypto';
import type { ChatCompletionRequest, FunctionTool, ToolCall } from '../protocols/openai.ts';
import type { ChatMessage, Tokenizer } from '../tokens/index.ts';
import { InvalidRequestError } from '../util/errors.ts';

/** How this request's tools are served. */
export type ToolMode =
  /** No tools offered (none given, or tool_choice 'none'). */
  | { kind: 'none' }
  /** The model may call tools in its template's format; the output is parsed for calls. */
  | { kind: 'auto'; tools: FunctionTool[] }
  /** The output is forced to the JSON of tool calls (`schema`); `named`: exactly that function, once. */
  | { kind: 'forced'; tools: FunctionTool[]; schema: string; named: boolean };

/** The OpenAI tools list the template receives (`tools[i] = {type: 'function', function}`). */
export function templateTools(tools: readonly FunctionTool[]): unknown[] {
  return tools.map((fn) => ({ type: 'function', function: fn }));
}

/**
 * Whether the chat template writes `tools` into the prompt: rendering the conversation with and without
 * them gives different text. A template that ignores them has no tool format.
 */
export function templateRendersTools(
  tokenizer: Tokenizer,
  messages: ChatMessage[],
  tools: FunctionTool[],
): boolean {
  const without = tokenizer.applyChatTemplate(messages, { addGenerationPrompt: true });
  const withTools = tokenizer.applyChatTemplate(messages, {
    addGenerationPrompt: true,
    tools: templateTools(tools),
  });
  return without !== withTools;
}

export function toolModeOf(
  body: ChatCompletionRequest,
  tokenizer: Tokenizer,
  messages: ChatMessage[],
): ToolMode {
  const tools = body.tools ?? [];
  const choice = body.tool_choice ?? (tools.length > 0 ? 'auto' : 'none');
  if (tools.length === 0 || choice === 'none') return { kind: 'none' };
  if (choice === 'auto') {
    if (!templateRendersTools(tokenizer, messages, tools)) {
      throw new InvalidRequestError(
        "this model's chat template has no tool format (it does not render 'tools' into the prompt), so the " +
          'model cannot choose to call one: send tool_choice \'required\' or {"type": "function", ' +
          '"function": {"name": ...}} (the call is then produced by constrained decoding), or leave out \'tools\'',
        'tools',
      );
    }
    return { kind: 'auto', tools };
  }
  if (choice === 'required') {
    return {
      kind: 'forced',
      tools,
      schema: JSON.stringify(requiredSchema(tools, body.parallel_tool_calls)),
      named: false,
    };
  }
  const fn = tools.find((t) => t.name === choice.function.name) as FunctionTool;
  return { kind: 'forced', tools, schema: JSON.stringify(callSchema(fn)), named: true };
}

/** One call of `fn`: `{"name": fn.name, "arguments": <its parameters>}`. */
function callSchema(fn: FunctionTool): Record<string, unknown> {
  return {
    type: 'object',
    properties: {
      name: { type: 'string', enum: [fn.name] },
      arguments: fn.parameters ?? { type: 'object' },
    },
    required: ['name', 'arguments'],
    additionalProperties: false,
  };
}

/** 'required': an array of calls of any offered function (one call unless parallel calls are allowed). */
function requiredSchema(tools: FunctionTool[], parallel: boolean): Record<string, unknown> {
  return {
    type: 'array',
    items: tools.length === 1 ? callSchema(tools[0]!) : { anyOf: tools.map(callSchema) },
    minItems: 1,
    ...(parallel ? {} : { maxItems: 1 }),
  };
}

export function newToolCallId(): string {
  return `call_${randomBytes(12).toString('hex')}`;
}

/** A parsed `{name, arguments}` → OpenAI's tool call (arguments as a JSON string). */
function toToolCall(value: unknown): ToolCall | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const { name, arguments: args, parameters } = value as Record<string, unknown>;
  if (typeof name !== 'string') return undefined;
  const argValue = args ?? parameters ?? {};
  return {
    id: newToolCallId(),
    type: 'function',
    function: { name, arguments: typeof argValue === 'string' ? argValue : JSON.stringify(argValue) },
  };
}

/** The output of a forced call: the JSON the grammar produced (one call, or an array of calls). */
export function parseForcedCalls(text: string): ToolCall[] {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return []; // cut by max_tokens: no complete call
  }
  const calls = (Array.isArray(value) ? value : [value]).map(toToolCall);
  return calls.every((c) => c !== undefined) ? (calls as ToolCall[]) : [];
}

const HERMES_CALL = /<tool_call>\s*([\s\S]*?)\s*<\/tool_call>/g;

/**
 * Hermes-style calls in free text: each `<tool_call>{"name": ..., "arguments": {...}}</tool_call>`
 * becomes a call; the text outside them stays content (null when nothing is left). A block that is not a
 * call's JSON stays in the content, as vLLM's parser leaves it.
 */
export function parseHermesCalls(text: string): { content: string | null; calls: ToolCall[] } {
  const calls: ToolCall[] = [];
  const content = text.replace(HERMES_CALL, (block, json: string) => {
    let call: ToolCall | undefined;
    try {
      call = toToolCall(JSON.parse(json));
    } catch {
      call = undefined;
    }
    if (!call) return block;
    calls.push(call);
    return '';
  });
  const rest = content.trim();
  return { content: calls.length > 0 && rest === '' ? null : calls.length > 0 ? rest : text, calls };
}

/**
 * Messages as chat templates expect them: an assistant's earlier `tool_calls` with `arguments` as an
 * object (templates write it with `tojson`), as vLLM passes them.
 */
export function templateMessage(message: ChatMessage): ChatMessage {
  const calls = message.tool_calls;
  if (!Array.isArray(calls)) return message;
  return {
    ...message,
    tool_calls: calls.map((call: ToolCall) => ({
      ...call,
      function: { ...call.function, arguments: parseArguments(call.function.arguments) },
    })),
  };
}

function parseArguments(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
