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
