/**
 * A client that hangs up mid-request cancels the request all the way down: frontend → request plane →
 * the worker's engine (which stops generating), streaming or not, and /health counts it as cancelled.
 * The worker is a real `dhw worker` process; its own /metrics tell what its engine did.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  goldenSamples,
  metricValue,
  quietLogs,
  startTestServer,
  type TestServer,
} from './testing/frontend-kit.ts';

quietLogs();

let ts: TestServer;

before(async () => {
  ts = await startTestServer();
});
after(async () => {
  await ts?.close();
});

const MAX_TOKENS = 600;

function longRequest(stream: boolean): string {
  return JSON.stringify({
    model: 'fortune-llama',
    messages: goldenSamples()[0].messages,
    max_tokens: MAX_TOKENS,
    ignore_eos: true,
    stream,
  });
}

/** Poll for up to 15 s (a bound for a loaded box: the cancel crosses into the worker process). */
async function waitFor(condition: () => boolean | Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (!(await condition()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  assert.ok(await condition(), `timed out waiting for ${what}`);
}

/** The worker's view: generate calls by status, and tokens produced. */
async function workerCounts(): Promise<{ cancelled: number; inflight: number; tokens: number }> {
  const text = await ts.worker.metrics();
  return {
    cancelled: metricValue(text, 'dynamo_component_requests_total', { status: 'cancelled' }),
    inflight: metricValue(text, 'dynamo_component_inflight_requests'),
    tokens: metricValue(text, 'dynamo_component_output_tokens_total'),
  };
}

test('closing a stream after the first chunk aborts the request in the worker', async () => {
  const start = await workerCounts();
  const client = new AbortController();
  const res = await fetch(`${ts.server.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: longRequest(true),
    signal: client.signal,
  });
  assert.equal(res.status, 200);
  const reader = res.body?.getReader();
  assert.ok(reader);
  const first = await reader.read();
  assert.match(new TextDecoder().decode(first.value), /^data: /);
  client.abort();
  await waitFor(async () => (await workerCounts()).cancelled === start.cancelled + 1, 'the worker to cancel');
  const end = await workerCounts();
  assert.equal(end.inflight, 0);
  const generated = end.tokens - start.tokens;
  assert.ok(generated < MAX_TOKENS, `generation stopped early (${generated} of ${MAX_TOKENS} tokens)`);
  await waitFor(() => ts.server.stats.snapshot().in_flight === 0, 'in_flight to drop to 0');
  assert.equal(ts.server.stats.snapshot().cancelled, 1);
});

test('a non-streaming client that hangs up also aborts its worker request', async () => {
  const start = await workerCounts();
  const client = new AbortController();
  const pending = fetch(`${ts.server.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: longRequest(false),
    signal: client.signal,
  }).catch((err: Error) => err);
  await waitFor(async () => (await workerCounts()).inflight === 1, 'the worker to start generating');
  client.abort();
  assert.ok((await pending) instanceof Error);
  await waitFor(async () => (await workerCounts()).cancelled === start.cancelled + 1, 'the worker to cancel');
  const generated = (await workerCounts()).tokens - start.tokens;
  assert.ok(generated < MAX_TOKENS, `generation stopped early (${generated} of ${MAX_TOKENS} tokens)`);
  await waitFor(() => ts.server.stats.snapshot().cancelled === 2, 'the request to count as cancelled');
});
