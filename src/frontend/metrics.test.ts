/**
 * GET /metrics through a real server: after real requests, Dynamo's metric names appear with counts that
 * match what was sent (Prometheus text format, parsed here by hand).
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import OpenAI from 'openai';
import {
  goldenSamples,
  metricValue,
  quietLogs,
  startTestServer,
  type TestServer,
} from './testing/frontend-kit.ts';

quietLogs();

let ts: TestServer;
let client: OpenAI;

before(async () => {
  ts = await startTestServer();
  client = new OpenAI({ baseURL: ts.baseURL, apiKey: 'x', maxRetries: 0 });
});
after(async () => {
  await ts?.close();
});

test('GET /metrics reports requests, tokens and latencies under Dynamo names', async () => {
  // The longest golden prompt spans at least one full 16-token block, so the repeat can hit the prefix cache.
  const golden = goldenSamples().reduce((a, b) => (b.prompt_ids.length > a.prompt_ids.length ? b : a));
  const maxTokens = 5;
  await client.chat.completions.create({
    model: 'fortune-llama',
    messages: golden.messages,
    temperature: 0,
    max_tokens: maxTokens,
  });
  const stream = await client.chat.completions.create({
    model: 'fortune-llama',
    messages: golden.messages,
    temperature: 0,
    max_tokens: maxTokens,
    stream: true,
  });
  for await (const _ of stream) {
    // drain
  }
  const bad = await fetch(`${ts.server.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: '{"n":',
  });
  assert.equal(bad.status, 400);

  const res = await fetch(`${ts.server.url}/metrics`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /text\/plain/);
  const text = await res.text();
  const chat = { endpoint: '/v1/chat/completions' };
  assert.equal(
    metricValue(text, 'dynamo_frontend_requests_total', {
      ...chat,
      request_type: 'unary',
      status: 'success',
    }),
    1,
  );
  assert.equal(
    metricValue(text, 'dynamo_frontend_requests_total', {
      ...chat,
      request_type: 'stream',
      status: 'success',
    }),
    1,
  );
  assert.equal(metricValue(text, 'dynamo_frontend_requests_total', { ...chat, status: 'error' }), 1);
  assert.equal(metricValue(text, 'dynamo_frontend_inflight_requests'), 0);
  assert.equal(metricValue(text, 'dynamo_frontend_time_to_first_token_seconds_count'), 2);
  // Inter-token gaps of the streaming request only: a non-streaming one's tokens may arrive batched.
  assert.equal(metricValue(text, 'dynamo_frontend_inter_token_latency_seconds_count'), maxTokens - 1);
  assert.equal(metricValue(text, 'dynamo_frontend_output_sequence_tokens_sum'), 2 * maxTokens);
  assert.equal(metricValue(text, 'dynamo_frontend_input_sequence_tokens_sum'), 2 * golden.prompt_ids.length);
  assert.equal(metricValue(text, 'dynamo_frontend_request_duration_seconds_count'), 3);
  // The second identical prompt reuses the first one's full blocks from the prefix cache.
  const hitRate = metricValue(text, 'dynamo_frontend_kv_hit_rate');
  assert.ok(hitRate > 0 && hitRate < 1, `kv hit rate ${hitRate}`);
});
