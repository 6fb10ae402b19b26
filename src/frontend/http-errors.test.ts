/**
 * Every malformed request gets an OpenAI-shaped JSON error with the right status, and the server keeps
 * serving afterwards. Raw `fetch`/`node:http` here, since the openai client would refuse to send these.
 */
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { after, before, test } from 'node:test';
import {
  goldenSamples,
  type HealthReply,
  quietLogs,
  startTestServer,
  type TestServer,
} from './testing/frontend-kit.ts';

quietLogs();

const MAX_BODY = 64 * 1024;
let ts: TestServer;

before(async () => {
  // Served under another name, so the model folder's name (fortune-llama) is the alias under test.
  ts = await startTestServer({ maxBodyBytes: MAX_BODY, modelName: 'fortune-cookie' });
});
after(async () => {
  await ts?.close();
});

interface ErrorReply {
  status: number;
  error: { message: string; type: string; param: string | null; code: string | null };
}

async function send(method: string, path: string, body?: string | Uint8Array): Promise<ErrorReply> {
  const res = await fetch(`${ts.server.url}${path}`, {
    method,
    headers: { 'content-type': 'application/json' },
    body,
  });
  assert.match(res.headers.get('content-type') ?? '', /application\/json/);
  const json = (await res.json()) as { error: ErrorReply['error'] };
  assert.deepEqual(Object.keys(json.error).sort(), ['code', 'message', 'param', 'type']);
  return { status: res.status, error: json.error };
}

const chat = (extra: Record<string, unknown>) =>
  JSON.stringify({ model: 'fortune-llama', messages: [{ role: 'user', content: 'hi' }], ...extra });

test('malformed bodies are 400s that name the problem', async () => {
  const cases: [string, string | Uint8Array, string | null, RegExp][] = [
    ['/v1/chat/completions', '{"model": "fortune-llama", "messages": [', null, /not valid JSON/],
    ['/v1/chat/completions', '', null, /empty/],
    ['/v1/chat/completions', new Uint8Array([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d]), null, /UTF-8/],
    ['/v1/chat/completions', '[1,2]', null, /JSON object/],
    ['/v1/chat/completions', chat({ temperature: 'hot' }), 'temperature', /temperature/],
    ['/v1/chat/completions', chat({ messages: 'hi' }), 'messages', /messages/],
    ['/v1/chat/completions', chat({ n: 129 }), 'n', /<= 128/],
    ['/v1/chat/completions', chat({ tools: 'x' }), 'tools', /must be an array/],
    ['/v1/chat/completions', chat({ audio: { voice: 'alloy' } }), 'audio', /not supported/],
    ['/v1/chat/completions', chat({ logit_bias: { 99999: 5 } }), 'logit_bias', /vocabulary size/],
    ['/v1/completions', JSON.stringify({ prompt: 'x', suffix: 'y' }), 'suffix', /not supported/],
    ['/v1/completions', JSON.stringify({ prompt: 'x', prompt_logprobs: 21 }), 'prompt_logprobs', /20/],
    ['/v1/chat/completions', chat({ prompt_logprobs: 1 }), 'prompt_logprobs', /completions only/],
    ['/v1/chat/completions', chat({ max_tokens: -5 }), 'max_tokens', /max_tokens/],
    ['/v1/chat/completions', chat({ max_tokens: 2.5 }), 'max_tokens', /integer/],
    ['/v1/chat/completions', chat({ stream: 'yes' }), 'stream', /stream/],
    ['/v1/chat/completions', chat({ stop: ['a', 'b', 'c', 'd', 'e'] }), 'stop', /at most 4/],
    ['/v1/completions', JSON.stringify({ prompt: ['a', 'b'] }), 'prompt', /batched prompts/],
    ['/v1/completions', JSON.stringify({ prompt: [5, 99999] }), 'prompt', /vocabulary size/],
    ['/v1/completions', JSON.stringify({ prompt: 'x', logprobs: 9 }), 'logprobs', /logprobs/],
  ];
  for (const [path, body, param, pattern] of cases) {
    const reply = await send('POST', path, body);
    assert.equal(reply.status, 400, `${path} ${String(body).slice(0, 60)}`);
    assert.equal(reply.error.type, 'invalid_request_error');
    assert.equal(reply.error.param, param);
    assert.match(reply.error.message, pattern);
  }
});

test('a prompt that does not fit the context is a 400 that says the numbers', async () => {
  const { contextLength } = ts;
  const tooLong = await send(
    'POST',
    '/v1/completions',
    JSON.stringify({ prompt: new Array(contextLength).fill(5) }),
  );
  assert.equal(tooLong.status, 400);
  assert.equal(tooLong.error.code, 'context_length_exceeded');
  assert.match(tooLong.error.message, new RegExp(`${contextLength} tokens.*${contextLength} tokens`));

  const body = JSON.stringify({ prompt: new Array(contextLength - 10).fill(5), max_tokens: 20 });
  const overBudget = await send('POST', '/v1/completions', body);
  assert.equal(overBudget.status, 400);
  assert.equal(overBudget.error.param, 'max_tokens');
  assert.match(
    overBudget.error.message,
    new RegExp(`${contextLength + 10} tokens \\(${contextLength - 10} in the prompt, 20`),
  );
});

test('unknown model is 404 model_not_found; the model folder name is accepted', async () => {
  const reply = await send('POST', '/v1/chat/completions', chat({ model: 'gpt-4' }));
  assert.equal(reply.status, 404);
  assert.equal(reply.error.code, 'model_not_found');
  assert.equal(reply.error.param, 'model');
  assert.match(reply.error.message, /gpt-4.*fortune-cookie.*fortune-llama/);
  const byFolderName = await fetch(`${ts.server.url}/v1/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'fortune-llama', prompt: 'Hi', max_tokens: 2 }),
  });
  assert.equal(byFolderName.status, 200);
  assert.equal(((await byFolderName.json()) as { model: string }).model, 'fortune-cookie');
});

test('unknown route 404, wrong method 405', async () => {
  const missing = await send('GET', '/v1/nothing');
  assert.equal(missing.status, 404);
  const wrongMethod = await send('GET', '/v1/chat/completions');
  assert.equal(wrongMethod.status, 405);
  assert.match(wrongMethod.error.message, /POST/);
});

test('a body over maxBodyBytes is 413, whether announced by Content-Length or sent chunked', async () => {
  const big = chat({ padding: 'x'.repeat(MAX_BODY) });
  const announced = await send('POST', '/v1/chat/completions', big);
  assert.equal(announced.status, 413);
  assert.match(announced.error.message, new RegExp(String(MAX_BODY)));

  const status = await new Promise<number>((resolve, reject) => {
    const req = httpRequest(`${ts.server.url}/v1/chat/completions`, { method: 'POST' }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    for (let i = 0; i < 8; i++) req.write('x'.repeat(MAX_BODY / 4));
    req.end();
  });
  assert.equal(status, 413);
});

test('after all of that the server still serves, and /health counted the rejections', async () => {
  const sample = goldenSamples()[2];
  const res = await fetch(`${ts.server.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'fortune-cookie', messages: sample.messages, temperature: 0 }),
  });
  assert.equal(res.status, 200);
  assert.match(res.headers.get('x-request-id') ?? '', /^chatcmpl-/);
  const json = (await res.json()) as { choices: { message: { content: string } }[] };
  assert.equal(json.choices[0].message.content, sample.greedy_text);
  const health = (await (await fetch(`${ts.server.url}/health`)).json()) as HealthReply;
  assert.equal(health.requests.in_flight, 0);
  assert.ok(health.requests.client_error >= 15, `client_error=${health.requests.client_error}`);
  assert.equal(health.requests.ok, 2);
  assert.equal(health.requests.server_error, 0);
});
