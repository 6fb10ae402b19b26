/**
 * The server as a real client sees it: the official `openai` npm client against a real server on a free
 * port, serving fortune-llama through the real engine and tokenizer. Greedy output must equal the
 * model's golden greedy text (computed with Hugging Face transformers).
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import OpenAI from 'openai';
import {
  type GoldenSample,
  goldenSamples,
  type HealthReply,
  quietLogs,
  startTestServer,
  type TestServer,
} from './testing/frontend-kit.ts';

quietLogs();

let ts: TestServer;
let client: OpenAI;
let golden: GoldenSample;

before(async () => {
  ts = await startTestServer();
  client = new OpenAI({ baseURL: ts.baseURL, apiKey: 'x', maxRetries: 0 });
  golden = goldenSamples()[0];
});
after(async () => {
  await ts?.close();
});

test('chat, non-streaming: greedy text equals the golden, with usage and ids', async () => {
  const res = await client.chat.completions.create({
    model: 'fortune-llama',
    messages: golden.messages,
    temperature: 0,
  });
  assert.match(res.id, /^chatcmpl-/);
  assert.equal(res.object, 'chat.completion');
  assert.equal(res.model, 'fortune-llama');
  assert.equal(res.choices[0].message.role, 'assistant');
  assert.equal(res.choices[0].message.content, golden.greedy_text);
  assert.equal(res.choices[0].finish_reason, 'stop');
  assert.equal(res.usage?.prompt_tokens, golden.prompt_ids.length);
  assert.equal(res.usage?.completion_tokens, golden.greedy_ids.length);
  assert.equal(res.usage?.total_tokens, golden.prompt_ids.length + golden.greedy_ids.length);
  assert.equal(typeof res.usage?.prompt_tokens_details?.cached_tokens, 'number');
});

test('chat, streaming with include_usage: chunks add up to the golden text, then a usage chunk', async () => {
  const stream = await client.chat.completions.create({
    model: 'fortune-llama',
    messages: golden.messages,
    temperature: 0,
    stream: true,
    stream_options: { include_usage: true },
  });
  const chunks: OpenAI.Chat.Completions.ChatCompletionChunk[] = [];
  for await (const chunk of stream) chunks.push(chunk);
  assert.equal(chunks[0].choices[0].delta.role, 'assistant');
  const text = chunks.map((c) => c.choices[0]?.delta.content ?? '').join('');
  assert.equal(text, golden.greedy_text);
  assert.ok(chunks.length > 5, 'streamed in several chunks');
  const last = chunks[chunks.length - 1];
  assert.deepEqual(last.choices, []);
  assert.equal(last.usage?.completion_tokens, golden.greedy_ids.length);
  assert.equal(last.usage?.prompt_tokens, golden.prompt_ids.length);
  const finishChunk = chunks[chunks.length - 2];
  assert.equal(finishChunk.choices[0].finish_reason, 'stop');
  for (const c of chunks.slice(0, -1)) assert.equal(c.usage, null, 'usage is null on all but the last chunk');
  assert.ok(chunks.every((c) => c.id === chunks[0].id && c.object === 'chat.completion.chunk'));
});

test('completions, non-streaming and streaming: text prompt and token-id prompt give the golden text', async () => {
  const byText = await client.completions.create({
    model: 'fortune-llama',
    prompt: golden.prompt,
    temperature: 0,
  });
  assert.match(byText.id, /^cmpl-/);
  assert.equal(byText.object, 'text_completion');
  assert.equal(byText.choices[0].text, golden.greedy_text);
  assert.equal(byText.choices[0].finish_reason, 'stop');
  assert.equal(byText.usage?.prompt_tokens, golden.prompt_ids.length);

  const byIds = await client.completions.create({
    model: 'fortune-llama',
    prompt: golden.prompt_ids,
    temperature: 0,
  });
  assert.equal(byIds.choices[0].text, golden.greedy_text);

  const stream = await client.completions.create({
    model: 'fortune-llama',
    prompt: golden.prompt,
    temperature: 0,
    stream: true,
  });
  let text = '';
  let finish: string | null = null;
  for await (const chunk of stream) {
    text += chunk.choices[0]?.text ?? '';
    finish = chunk.choices[0]?.finish_reason ?? finish;
  }
  assert.equal(text, golden.greedy_text);
  assert.equal(finish, 'stop');
});

test('max_tokens cuts the output with finish_reason "length"', async () => {
  const res = await client.completions.create({
    model: 'fortune-llama',
    prompt: golden.prompt_ids,
    temperature: 0,
    max_tokens: 5,
  });
  assert.equal(res.choices[0].finish_reason, 'length');
  assert.equal(res.usage?.completion_tokens, 5);
  assert.equal(
    res.choices[0].text,
    ts.tokenizer.decode(golden.greedy_ids.slice(0, 5), { skipSpecialTokens: true }),
  );
});

test('stop strings end the output before the stop string, streaming and not, and never leak it', async () => {
  const stop = '-- Bruce';
  const expected = golden.greedy_text.slice(0, golden.greedy_text.indexOf(stop));
  assert.ok(expected.length > 0 && expected.length < golden.greedy_text.length);
  const whole = await client.chat.completions.create({
    model: 'fortune-llama',
    messages: golden.messages,
    temperature: 0,
    stop: ['never appears', stop],
  });
  assert.equal(whole.choices[0].message.content, expected);
  assert.equal(whole.choices[0].finish_reason, 'stop');

  const stream = await client.chat.completions.create({
    model: 'fortune-llama',
    messages: golden.messages,
    temperature: 0,
    stop,
    stream: true,
  });
  const deltas: string[] = [];
  let finish: string | null = null;
  for await (const chunk of stream) {
    deltas.push(chunk.choices[0]?.delta.content ?? '');
    finish = chunk.choices[0]?.finish_reason ?? finish;
  }
  assert.equal(deltas.join(''), expected);
  assert.ok(!deltas.some((d) => d.includes('Bruce')));
  assert.equal(finish, 'stop');
});

test('chat logprobs: one entry per token, in OpenAI shape, greedy token = best alternative', async () => {
  const res = await client.chat.completions.create({
    model: 'fortune-llama',
    messages: golden.messages,
    temperature: 0,
    max_tokens: 8,
    logprobs: true,
    top_logprobs: 3,
  });
  const content = res.choices[0].logprobs?.content ?? [];
  assert.equal(content.length, 8);
  assert.equal(content.map((c) => c.token).join(''), res.choices[0].message.content);
  for (const entry of content) {
    assert.ok(entry.logprob <= 0);
    assert.deepEqual(entry.bytes, [...Buffer.from(entry.token, 'utf8')]);
    assert.equal(entry.top_logprobs.length, 3);
    assert.equal(entry.top_logprobs[0].token, entry.token);
    assert.ok(Math.abs(entry.top_logprobs[0].logprob - entry.logprob) < 1e-5);
    assert.ok(entry.top_logprobs[0].logprob >= entry.top_logprobs[1].logprob);
  }
});

test('chat logprobs while streaming: each token entry arrives exactly once', async () => {
  const stream = await client.chat.completions.create({
    model: 'fortune-llama',
    messages: golden.messages,
    temperature: 0,
    max_tokens: 6,
    logprobs: true,
    top_logprobs: 2,
    stream: true,
  });
  const entries: OpenAI.Chat.Completions.ChatCompletionTokenLogprob[] = [];
  let text = '';
  for await (const chunk of stream) {
    entries.push(...(chunk.choices[0]?.logprobs?.content ?? []));
    text += chunk.choices[0]?.delta.content ?? '';
  }
  assert.equal(entries.length, 6);
  assert.equal(entries.map((e) => e.token).join(''), text);
  assert.ok(entries.every((e) => e.top_logprobs.length === 2));
});

test('completions logprobs: parallel arrays with text offsets', async () => {
  const res = await client.completions.create({
    model: 'fortune-llama',
    prompt: golden.prompt,
    temperature: 0,
    max_tokens: 6,
    logprobs: 2,
  });
  const lp = res.choices[0].logprobs;
  assert.ok(lp);
  assert.equal(lp.tokens?.length, 6);
  assert.equal(lp.token_logprobs?.length, 6);
  assert.equal(lp.top_logprobs?.length, 6);
  assert.equal(lp.tokens?.join(''), res.choices[0].text);
  assert.deepEqual(
    lp.text_offset,
    lp.tokens?.map((_, i) => lp.tokens?.slice(0, i).join('').length),
  );
  for (const top of lp.top_logprobs ?? []) assert.equal(Object.keys(top).length, 2);
});

test('concurrent requests (batched by the engine) each get their own golden text', async () => {
  const samples = goldenSamples();
  const replies = await Promise.all(
    samples.map((s) =>
      client.chat.completions.create({ model: 'fortune-llama', messages: s.messages, temperature: 0 }),
    ),
  );
  assert.deepEqual(
    replies.map((r) => r.choices[0].message.content),
    samples.map((s) => s.greedy_text),
  );
  assert.equal(new Set(replies.map((r) => r.id)).size, samples.length, 'each request has its own id');
});

test('GET /v1/models, /health and /live', async () => {
  const models = await client.models.list();
  assert.deepEqual(
    models.data.map((m) => m.id),
    ['fortune-llama'],
  );
  const health = (await (await fetch(`${ts.server.url}/health`)).json()) as HealthReply;
  assert.equal(health.status, 'healthy');
  assert.ok(health.requests.total >= 1);
  assert.equal(health.requests.in_flight, 0);
  const live = await fetch(`${ts.server.url}/live`);
  assert.equal(live.status, 200);
});
