/**
 * `response_format` by constrained decoding, through the official client against a real frontend and a
 * real `dhw worker` (fortune-llama, the from-scratch engine): the output parses with JSON.parse and
 * matches the schema, greedy and sampled, streaming and not, n > 1; a schema the grammar compiler
 * rejects is a 400 naming response_format.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import OpenAI from 'openai';
import { goldenSamples, quietLogs, startTestServer, type TestServer } from './testing/frontend-kit.ts';

quietLogs();

let ts: TestServer;
let client: OpenAI;
const messages = goldenSamples()[0].messages;

before(async () => {
  ts = await startTestServer();
  client = new OpenAI({ baseURL: ts.baseURL, apiKey: 'x', maxRetries: 0 });
});
after(async () => {
  await ts?.close();
});

type Schema = {
  type?: string;
  properties?: Record<string, Schema>;
  required?: string[];
  items?: Schema;
  enum?: unknown[];
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  maxItems?: number;
  additionalProperties?: boolean;
};

/** The schema features these tests use, checked the way JSON Schema defines them. */
function validate(value: unknown, schema: Schema, path = '$'): void {
  if (schema.enum) assert.ok(schema.enum.includes(value), `${path}: ${JSON.stringify(value)} not in enum`);
  switch (schema.type) {
    case 'object': {
      assert.ok(typeof value === 'object' && value !== null && !Array.isArray(value), `${path}: object`);
      const obj = value as Record<string, unknown>;
      for (const key of schema.required ?? []) assert.ok(key in obj, `${path}.${key} is required`);
      for (const [key, v] of Object.entries(obj)) {
        const sub = schema.properties?.[key];
        if (sub) validate(v, sub, `${path}.${key}`);
        else assert.notEqual(schema.additionalProperties, false, `${path}.${key} is not allowed`);
      }
      return;
    }
    case 'array':
      assert.ok(Array.isArray(value), `${path}: array`);
      assert.ok(
        (value as unknown[]).length <= (schema.maxItems ?? Number.POSITIVE_INFINITY),
        `${path}: maxItems`,
      );
      (value as unknown[]).forEach((v, i) => {
        if (schema.items) validate(v, schema.items, `${path}[${i}]`);
      });
      return;
    case 'string':
      assert.equal(typeof value, 'string', path);
      assert.ok(
        (value as string).length <= (schema.maxLength ?? Number.POSITIVE_INFINITY),
        `${path}: maxLength`,
      );
      return;
    case 'integer':
      assert.ok(Number.isInteger(value), `${path}: integer`);
      assert.ok((value as number) >= (schema.minimum ?? Number.NEGATIVE_INFINITY), `${path}: minimum`);
      assert.ok((value as number) <= (schema.maximum ?? Number.POSITIVE_INFINITY), `${path}: maximum`);
      return;
    case 'number':
      assert.equal(typeof value, 'number', path);
      return;
    case 'boolean':
      assert.equal(typeof value, 'boolean', path);
      return;
  }
}

const fortuneSchema: Schema = {
  type: 'object',
  properties: {
    fortune: { type: 'string', maxLength: 60 },
    lucky_number: { type: 'integer', minimum: 1, maximum: 99 },
    mood: { type: 'string', enum: ['good', 'bad', 'mixed'] },
    tags: { type: 'array', items: { type: 'string', maxLength: 12 }, maxItems: 3 },
    certain: { type: 'boolean' },
  },
  required: ['fortune', 'lucky_number', 'mood', 'certain'],
  additionalProperties: false,
};

const jsonSchema = {
  type: 'json_schema' as const,
  json_schema: { name: 'fortune', schema: fortuneSchema as Record<string, unknown>, strict: true },
};

test('json_object: a JSON object, greedy (cut by max_tokens inside a key) and sampled (closed: it parses)', async () => {
  const free = await client.chat.completions.create({ model: 'fortune-llama', messages, temperature: 0 });
  assert.throws(
    () => JSON.parse(free.choices[0].message.content ?? ''),
    'unconstrained, the model writes prose',
  );
  // Greedy, this small model opens a key and keeps writing prose into it: the grammar keeps it inside the
  // string (no raw newline or quote), and max_tokens cuts it, as OpenAI warns JSON mode can be.
  const greedy = await client.chat.completions.create({
    model: 'fortune-llama',
    messages,
    temperature: 0,
    max_tokens: 40,
    response_format: { type: 'json_object' },
  });
  const cut = greedy.choices[0];
  assert.equal(cut.finish_reason, 'length');
  assert.match(cut.message.content ?? '', /^\{"[^"\n]*$/);
  // With the closing tokens favoured (logit_bias and the grammar together), the objects close: each
  // parses. The bias only shifts the odds; the grammar alone decides what is valid.
  const [quote, brace] = [ts.tokenizer.tokenToId('"'), ts.tokenizer.tokenToId('}')] as number[];
  const sampled = await client.chat.completions.create({
    model: 'fortune-llama',
    messages,
    temperature: 1,
    seed: 1,
    n: 4,
    max_tokens: 150,
    logit_bias: { [quote]: 6, [brace]: 6 },
    response_format: { type: 'json_object' },
  });
  for (const choice of sampled.choices) {
    const text = choice.message.content ?? '';
    assert.equal(choice.finish_reason, 'stop', text);
    const value = JSON.parse(text);
    assert.ok(typeof value === 'object' && value !== null && !Array.isArray(value), text);
  }
});

test('json_schema, greedy and sampled (n = 4): every output parses and matches the schema', async () => {
  const greedy = await client.chat.completions.create({
    model: 'fortune-llama',
    messages,
    temperature: 0,
    max_tokens: 300,
    response_format: jsonSchema,
  });
  const sampled = await client.chat.completions.create({
    model: 'fortune-llama',
    messages,
    temperature: 1,
    seed: 3,
    n: 4,
    max_tokens: 300,
    response_format: jsonSchema,
  });
  for (const choice of [...greedy.choices, ...sampled.choices]) {
    const text = choice.message.content ?? '';
    assert.equal(choice.finish_reason, 'stop', `complete JSON: ${text}`);
    validate(JSON.parse(text), fortuneSchema);
  }
});

test('json_schema on completions, streaming: the chunks add up to JSON matching the schema', async () => {
  const stream = await client.completions.create({
    model: 'fortune-llama',
    prompt: 'Fortune as JSON: ',
    temperature: 0.8,
    seed: 9,
    max_tokens: 300,
    stream: true,
    // biome-ignore lint/suspicious/noExplicitAny: vLLM's extension of completions, not in the client's types
    response_format: jsonSchema as any,
  } as OpenAI.CompletionCreateParamsStreaming);
  let text = '';
  for await (const chunk of stream) text += chunk.choices[0]?.text ?? '';
  validate(JSON.parse(text), fortuneSchema);
});

test('a schema the grammar compiler rejects is a 400 naming response_format', async () => {
  try {
    await client.chat.completions.create({
      model: 'fortune-llama',
      messages,
      response_format: {
        type: 'json_schema',
        json_schema: { name: 'bad', schema: { type: 'object', properties: { a: { $ref: '#/nowhere' } } } },
      },
    });
    assert.fail('accepted');
  } catch (err) {
    assert.ok(err instanceof OpenAI.APIError, String(err));
    assert.equal(err.status, 400);
    assert.equal(err.param, 'response_format');
  }
});

const fortuneTool = {
  type: 'function' as const,
  function: {
    name: 'get_fortune',
    description: 'A fortune about a topic',
    parameters: {
      type: 'object',
      properties: {
        topic: { type: 'string', maxLength: 20 },
        count: { type: 'integer', minimum: 1, maximum: 5 },
      },
      required: ['topic', 'count'],
      additionalProperties: false,
    },
  },
};
const moodTool = {
  type: 'function' as const,
  function: {
    name: 'set_mood',
    parameters: {
      type: 'object',
      properties: { mood: { type: 'string', enum: ['good', 'bad'] } },
      required: ['mood'],
      additionalProperties: false,
    },
  },
};

test("tools with tool_choice 'auto' on a model whose template has no tool format: 400 naming tools", async () => {
  try {
    await client.chat.completions.create({ model: 'fortune-llama', messages, tools: [fortuneTool] });
    assert.fail('accepted');
  } catch (err) {
    assert.ok(err instanceof OpenAI.APIError, String(err));
    assert.equal(err.status, 400);
    assert.equal(err.param, 'tools');
    assert.match(err.message, /no tool format/);
  }
});

test('a named tool_choice: one call of that function, arguments valid for its parameters, streaming too', async () => {
  const request = {
    model: 'fortune-llama',
    messages,
    temperature: 0.7,
    seed: 2,
    max_tokens: 100,
    tools: [fortuneTool, moodTool],
    tool_choice: { type: 'function' as const, function: { name: 'get_fortune' } },
  };
  const res = await client.chat.completions.create(request);
  const choice = res.choices[0];
  assert.equal(choice.finish_reason, 'stop', 'OpenAI: a forced named call finishes with stop');
  assert.equal(choice.message.content, null);
  const [call] = choice.message.tool_calls ?? [];
  assert.ok(call && call.type === 'function');
  assert.equal(call.function.name, 'get_fortune');
  validate(JSON.parse(call.function.arguments), fortuneTool.function.parameters as Schema);

  const stream = await client.chat.completions.create({ ...request, stream: true });
  const deltas: OpenAI.Chat.Completions.ChatCompletionChunk.Choice.Delta.ToolCall[] = [];
  let finish: string | null = null;
  for await (const chunk of stream) {
    deltas.push(...(chunk.choices[0]?.delta.tool_calls ?? []));
    finish = chunk.choices[0]?.finish_reason ?? finish;
  }
  assert.equal(deltas.length, 1);
  assert.equal(deltas[0].function?.name, 'get_fortune');
  assert.equal(deltas[0].function?.arguments, call.function.arguments, 'same seed, same call');
  assert.equal(finish, 'stop');
});

test("tool_choice 'required': calls of offered functions only, finish_reason tool_calls; a follow-up turn is accepted", async () => {
  const res = await client.chat.completions.create({
    model: 'fortune-llama',
    messages,
    temperature: 1,
    seed: 4,
    max_tokens: 150,
    tools: [fortuneTool, moodTool],
    tool_choice: 'required',
    parallel_tool_calls: false,
  });
  const choice = res.choices[0];
  assert.equal(choice.finish_reason, 'tool_calls');
  const calls = choice.message.tool_calls ?? [];
  assert.equal(calls.length, 1, 'parallel_tool_calls false: one call');
  const call = calls[0];
  assert.ok(call.type === 'function');
  const tool = [fortuneTool, moodTool].find((t) => t.function.name === call.function.name);
  assert.ok(tool, call.function.name);
  validate(JSON.parse(call.function.arguments), tool.function.parameters as Schema);

  const followUp = await client.chat.completions.create({
    model: 'fortune-llama',
    messages: [
      ...messages,
      { role: 'assistant', content: null, tool_calls: [call] },
      { role: 'tool', tool_call_id: call.id, content: 'Cats bring luck.' },
    ],
    temperature: 0,
    max_tokens: 8,
  });
  assert.equal(typeof followUp.choices[0].message.content, 'string');
});
