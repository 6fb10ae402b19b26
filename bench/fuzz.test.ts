/**
 * The CI-sized fuzz (`npm run fuzz` runs 10,000+ per endpoint): structure-aware malformed requests (every
 * field × every wrong type or range, random mixes, broken bodies) and raw-socket garbage against a real
 * `dhw frontend` process. Every answer must be a 4xx, the process must stay up and serve a valid request
 * afterwards, and its resident memory must not grow: after a warm-up on the same mix, the peak RSS of the
 * last quarter of samples stays within 10 % of the peak of the first quarter.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { CHAT, COMPLETIONS, fieldGrid, httpCases, rawCases } from './lib/fuzz-cases.ts';
import { type FuzzStack, peakGrowth, runCases, sendHttp, sendRaw, startFuzzStack } from './lib/fuzz-run.ts';

const MAX_BODY = 16 * 1024;
const PER_ENDPOINT = 600;
const RAW_PER_ENDPOINT = 100;
/** Requests per endpoint of the same mix before memory is first read: the heap grows to its working size. */
const WARM_UP = 800;

let stack: FuzzStack;

before(async () => {
  stack = await startFuzzStack({ maxBodyBytes: MAX_BODY });
});
after(async () => {
  await stack?.close();
});

test('the field grid covers every field of both endpoints with several wrong values each', () => {
  for (const path of [CHAT, COMPLETIONS] as const) {
    const kinds = new Set(fieldGrid(path).map((c) => c.kind));
    assert.ok(kinds.size >= 20, `${path}: ${kinds.size} fields`);
    assert.ok(fieldGrid(path).length >= 150, `${path}: ${fieldGrid(path).length} cases`);
  }
});

test(`${PER_ENDPOINT} malformed requests per endpoint + raw garbage: only 4xx, alive, flat memory`, async (t) => {
  // Warm up (JIT, heap size, pools) on the same mix, then measure memory over the run.
  for (const path of [CHAT, COMPLETIONS] as const) {
    await runCases(httpCases(path, WARM_UP, 99, MAX_BODY), (c) => sendHttp(stack.url, c), 16);
  }
  const samples = [stack.rss()];
  const sample = { every: PER_ENDPOINT / 6, call: () => samples.push(stack.rss()) };
  for (const path of [CHAT, COMPLETIONS] as const) {
    const report = await runCases(
      httpCases(path, PER_ENDPOINT, 20261206, MAX_BODY),
      (c) => sendHttp(stack.url, c),
      16,
      sample,
    );
    t.diagnostic(`${path}: ${JSON.stringify(Object.fromEntries(report.statuses))}`);
    assert.deepEqual(report.failures, [], `${path}: every malformed request is a 4xx`);
    assert.equal(report.total, PER_ENDPOINT);
    const raw = await runCases(rawCases(path, RAW_PER_ENDPOINT, 7), (c) => sendRaw(stack.port, c, 5000), 8);
    t.diagnostic(`${path} raw: ${JSON.stringify(Object.fromEntries(raw.statuses))}`);
    assert.deepEqual(raw.failures, [], `${path}: raw garbage gets a 4xx or a closed connection`);
  }
  samples.push(stack.rss());
  const growth = peakGrowth(samples);
  t.diagnostic(`frontend RSS samples, MiB: ${samples.map((b) => (b / 2 ** 20).toFixed(1)).join(' ')}`);
  assert.ok(growth < 0.1, `RSS peaks grew ${(growth * 100).toFixed(1)} %`);

  assert.equal(stack.frontend.child.exitCode, null, 'the frontend is still running');
  const res = await fetch(`${stack.url}/v1/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'fortune-llama', prompt: 'Hello', max_tokens: 3 }),
  });
  assert.equal(res.status, 200);
  const health = (await (await fetch(`${stack.url}/health`)).json()) as {
    requests: { in_flight: number; server_error: number };
  };
  assert.equal(health.requests.in_flight, 0);
  assert.equal(health.requests.server_error, 0);
});
