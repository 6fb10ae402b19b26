/**
 * Validators for the structured parts of an OpenAI request: `response_format` (free text, any JSON object,
 * JSON matching a schema) and `tools` / `tool_choice` / `parallel_tool_calls`. Shapes only: whether a
 * schema uses only what the constrained decoder understands, and whether the model has a tool format,
 * are decided by the frontend, which knows the model.
 */
import { InvalidRequestError } from './errors.ts';
import { describe, type FieldReader, isObject } from './openai-field-reader.ts';
import type { FunctionTool, ResponseFormat, ToolCall, ToolChoice } from './openai.ts';

const FUNCTION_NAME = /^[A-Za-z0-9_-]{1,64}$/;

export function readResponseFormat(fields: FieldReader): ResponseFormat | undefined {
  const format = fields.nested('response_format');
  if (format === undefined) return undefined;
  const type = format.string('type');
  if (type === 'text' || type === 'json_object') return { type };
  if (type !== 'json_schema') {
    throw new InvalidRequestError(
      `'response_format.type' must be 'text', 'json_object' or 'json_schema' (got ${describe(type)})`,
      'response_format.type',
    );
  }
  const spec = format.nested('json_schema');
  if (spec === undefined) {
    throw new InvalidRequestError(
      "'response_format.json_schema' is required with type 'json_schema': {name, schema, strict?}",
      'response_format.json_schema',
    );
  }
  const name = spec.string('name');
  if (name === undefined || !FUNCTION_NAME.test(name)) {
    throw new InvalidRequestError(
      `'${spec.name('name')}' must be a name of 1-64 letters, digits, '_' or '-' (got ${describe(name)})`,
      spec.name('name'),
    );
  }
  const schema = spec.object('schema') ?? {};
  return { type, json_schema: { name, schema, strict: spec.boolean('strict') ?? false } };
}

export function readTools(fields: FieldReader): FunctionTool[] | undefined {
  const tools = fields.array('tools');
  if (tools === undefined) return undefined;
  return tools.map((tool, i) => readTool(tool, `tools[${i}]`));
}

function readTool(tool: unknown, param: string): FunctionTool {
  if (!isObject(tool) || tool.type !== 'function' || !isObject(tool.function)) {
    throw new InvalidRequestError(
      `'${param}' must be {"type": "function", "function": {name, description?, parameters?}} ` +
        `(got ${describe(tool)}); only function tools exist here`,
      param,
    );
  }
  const fn = tool.function;
  if (typeof fn.name !== 'string' || !FUNCTION_NAME.test(fn.name)) {
    throw new InvalidRequestError(
      `'${param}.function.name' must be 1-64 letters, digits, '_' or '-' (got ${describe(fn.name)})`,
      `${param}.function.name`,
    );
  }
  const out: FunctionTool = { name: fn.name };
  if (fn.description !== undefined && fn.description !== null) {
    if (typeof fn.description !== 'string') {
      throw new InvalidRequestError(
        `'${param}.function.description' must be a string`,
        `${param}.function.description`,
      );
    }
    out.description = fn.description;
  }
  if (fn.parameters !== undefined && fn.parameters !== null) {
    if (!isObject(fn.parameters)) {
      throw new InvalidRequestError(
        `'${param}.function.parameters' must be a JSON Schema object`,
        `${param}.function.parameters`,
      );
    }
    out.parameters = fn.parameters;
  }
  if (typeof fn.strict === 'boolean') out.strict = fn.strict;
  return out;
}

export function readToolChoice(
  fields: FieldReader,
  tools: FunctionTool[] | undefined,
): ToolChoice | undefined {
  const choice = fields.raw('tool_choice');
  if (choice === undefined) return undefined;
  if (choice === 'none' || choice === 'auto' || choice === 'required') {
    if (choice !== 'none' && (tools === undefined || tools.length === 0)) {
      throw new InvalidRequestError(`'tool_choice' '${choice}' needs 'tools'`, 'tool_choice');
    }
    return choice;
  }
  if (isObject(choice) && choice.type === 'function' && isObject(choice.function)) {
    const name = choice.function.name;
    if (typeof name === 'string' && tools?.some((t) => t.name === name)) {
      return { type: 'function', function: { name } };
    }
    throw new InvalidRequestError(
      `'tool_choice.function.name' ${describe(name)} is not one of the functions in 'tools'`,
      'tool_choice.function.name',
    );
  }
  throw new InvalidRequestError(
    `'tool_choice' must be 'none', 'auto', 'required' or {"type": "function", "function": {"name": ...}} ` +
      `(got ${describe(choice)})`,
    'tool_choice',
  );
}

/** An assistant message's `tool_calls`: [{id, type: 'function', function: {name, arguments (a JSON string)}}]. */
export function readMessageToolCalls(fields: FieldReader, param: string): ToolCall[] | undefined {
  const calls = fields.raw('tool_calls');
  if (calls === undefined) return undefined;
  const where = `${param}.tool_calls`;
  if (!Array.isArray(calls)) throw new InvalidRequestError(`'${where}' must be an array`, where);
  return calls.map((call, i) => {
    const fn = isObject(call) ? call.function : undefined;
    if (
      !isObject(call) ||
      typeof call.id !== 'string' ||
      call.type !== 'function' ||
      !isObject(fn) ||
      typeof fn.name !== 'string' ||
      typeof fn.arguments !== 'string'
    ) {
      throw new InvalidRequestError(
        `'${where}[${i}]' must be {"id", "type": "function", "function": {"name", "arguments": "<JSON text>"}}`,
        `${where}[${i}]`,
      );
    }
    return { id: call.id, type: 'function', function: { name: fn.name, arguments: fn.arguments } };
  });
}
