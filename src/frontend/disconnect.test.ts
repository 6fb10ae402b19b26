/**
 * A client that hangs up mid-request cancels the engine request (no tokens generated for nobody),
 * streaming or not, and /health counts it as cancelled.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { goldenSamples, startTestServer, type TestServer } from './test-support.ts';

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

async function waitFor(condition: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 500 && !condition(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(condition(), `timed out waiting for ${what}`);
}

test('closing a stream after the first chunk aborts the engine request', async () => {
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
  const spied = ts.engine.requests.at(-1);
  assert.ok(spied);
  client.abort();
  await spied.ended;
  assert.equal(spied.signal?.aborted, true, 'the engine saw an aborted signal');
  assert.ok(spied.tokens < MAX_TOKENS, `generation stopped early (${spied.tokens} of ${MAX_TOKENS} tokens)`);
  await waitFor(() => ts.server.stats.snapshot().in_flight === 0, 'in_flight to drop to 0');
  assert.equal(ts.server.stats.snapshot().cancelled, 1);
});

test('a non-streaming client that hangs up also aborts its engine request', async () => {
  const before = ts.engine.requests.length;
  const client = new AbortController();
  const pending = fetch(`${ts.server.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: longRequest(false),
    signal: client.signal,
  }).catch((err: Error) => err);
  await waitFor(() => (ts.engine.requests[before]?.tokens ?? 0) > 0, 'the engine to start generating');
  client.abort();
  assert.ok((await pending) instanceof Error);
  const spied = ts.engine.requests[before];
  await spied.ended;
  assert.equal(spied.signal?.aborted, true);
  assert.ok(spied.tokens < MAX_TOKENS, `generation stopped early (${spied.tokens} of ${MAX_TOKENS} tokens)`);
  await waitFor(() => ts.server.stats.snapshot().cancelled === 2, 'the request to count as cancelled');
});
