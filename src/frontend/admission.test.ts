/**
 * Admission control through the real stack: one mocker worker PROCESS with 40 KV blocks, frontends in this
 * process (file discovery, TCP request plane, memory events: no load report ever reaches the frontend, so
 * whatever is "busy" here was counted from the requests the router itself sent). A burst larger than the
 * worker's KV cache waits in the model's queue; past `--max-queued-requests` it is refused with 429 and
 * Retry-After in OpenAI's error shape; with no queue, 503 busy; with no worker, 503 no_workers. The router
 * queue (`--router-queue-threshold`) holds requests before that, while the worker has a prefill backlog.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { FrontendHandle, FrontendOptions } from './frontend.ts';
import {
  freshNamespace,
  type HealthReply,
  metricValue,
  quietLogs,
  spawnWorker,
  startTestFrontend,
  type WorkerProcess,
} from './testing/frontend-kit.ts';

quietLogs();

const KV_BLOCKS = 40;
const MAX_TOKENS = 24;
let dir: string;
let namespace: string;
let worker: WorkerProcess;
const frontends: FrontendHandle[] = [];

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'dhw-admission-test-'));
  namespace = freshNamespace();
  worker = await spawnWorker([
    '--engine',
    'mocker',
    '--discovery',
    'file',
    '--discovery-dir',
    dir,
    '--events',
    'memory',
    '--namespace',
    namespace,
    '--num-kv-blocks',
    String(KV_BLOCKS),
    '--block-size',
    '16',
  ]);
});
after(async () => {
  for (const f of frontends) await f.close();
  await worker?.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function frontend(options: Partial<FrontendOptions>, workers = 1): Promise<FrontendHandle> {
  const fe = await startTestFrontend(
    {
      namespace,
      discovery: { backend: 'file', fileDir: dir },
      events: { backend: 'memory' },
      router: { router: 'round-robin' },
      busyThreshold: 0.95,
      ...options,
    },
    workers,
  );
  frontends.push(fe);
  return fe;
}

interface Reply {
  status: number;
  retryAfter: string | null;
  body: {
    error?: { message: string; type: string; code: string | null; param: string | null };
    choices?: { finish_reason: string }[];
    usage?: { completion_tokens: number };
  };
}

/** A prompt of 40 distinct token ids: 2 full blocks and a partial one, shared with no other request. */
function promptOf(i: number): number[] {
  return Array.from({ length: 40 }, (_, k) => 100 + ((i * 41 + k) % 1800));
}

async function complete(url: string, i: number): Promise<Reply> {
  const res = await fetch(`${url}/v1/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ prompt: promptOf(i), max_tokens: MAX_TOKENS, ignore_eos: true }),
  });
  return {
    status: res.status,
    retryAfter: res.headers.get('retry-after'),
    body: (await res.json()) as Reply['body'],
  };
}

function burst(url: string, n: number): Promise<Reply[]> {
  return Promise.all(Array.from({ length: n }, (_, i) => complete(url, i)));
}

function assertServed(reply: Reply): void {
  assert.equal(reply.body.choices?.[0].finish_reason, 'length');
  assert.equal(reply.body.usage?.completion_tokens, MAX_TOKENS);
}

/** Every reply is a full 200, and nothing is left in flight. */
async function assertAllServed(fe: FrontendHandle, replies: readonly Reply[]): Promise<void> {
  assert.deepEqual(
    replies.map((r) => r.status),
    replies.map(() => 200),
  );
  for (const reply of replies) assertServed(reply);
  await assertNothingLeft(fe);
}

async function assertNothingLeft(fe: FrontendHandle): Promise<void> {
  const health = (await (await fetch(`${fe.url}/health`)).json()) as HealthReply;
  assert.equal(health.requests.in_flight, 0);
}

test('a burst past the queue bound: 429 + Retry-After in OpenAI shape, the rest served in full', async () => {
  const fe = await frontend({ maxQueuedRequests: 4 });
  const replies = await burst(fe.url, 60);
  const served = replies.filter((r) => r.status === 200);
  const refused = replies.filter((r) => r.status !== 200);
  for (const reply of served) assertServed(reply);
  assert.ok(refused.length > 0, 'the worker has room for about 13 such requests: the burst must overflow');
  // At most the worker's room (38 blocks / 3) plus the queue can be taken at once, and more are served
  // only as earlier ones finish.
  assert.ok(served.length >= 4, `served ${served.length}`);
  for (const reply of refused) {
    assert.equal(reply.status, 429);
    assert.ok(Number(reply.retryAfter) >= 1, `Retry-After ${reply.retryAfter}`);
    assert.equal(reply.body.error?.type, 'rate_limit_error');
    assert.equal(reply.body.error?.code, 'queue_full');
    assert.match(reply.body.error?.message ?? '', /--max-queued-requests/);
  }
  await assertNothingLeft(fe);
  const metrics = await (await fetch(`${fe.url}/metrics`)).text();
  assert.equal(
    metricValue(metrics, 'dynamo_frontend_rejected_requests_total', { reason: 'queue_full' }),
    refused.length,
  );
  assert.equal(metricValue(metrics, 'dynamo_frontend_queued_requests'), 0);
});

test('requests within the queue bound all wait their turn and are served; none is lost', async () => {
  const fe = await frontend({ maxQueuedRequests: 100 });
  const replies = await burst(fe.url, 40);
  await assertAllServed(fe, replies);
});

test('with the router queue in front (--router-queue-threshold 0, wspt): a burst is served in full, none lost', async () => {
  const fe = await frontend({
    maxQueuedRequests: 100,
    router: { router: 'round-robin', queue: { threshold: 0, policy: 'wspt' } },
  });
  const replies = await burst(fe.url, 30);
  await assertAllServed(fe, replies);
  const metrics = await (await fetch(`${fe.url}/metrics`)).text();
  assert.equal(metricValue(metrics, 'dynamo_frontend_router_queued_requests'), 0);
});

test('--max-queued-requests 0: a busy worker is a 503 busy with Retry-After at once', async () => {
  const fe = await frontend({ maxQueuedRequests: 0 });
  const replies = await burst(fe.url, 40);
  const refused = replies.filter((r) => r.status !== 200);
  assert.ok(refused.length > 0);
  for (const reply of refused) {
    assert.equal(reply.status, 503);
    assert.equal(reply.body.error?.code, 'busy');
    assert.ok(Number(reply.retryAfter) >= 1);
  }
  for (const reply of replies.filter((r) => r.status === 200)) assertServed(reply);
  await assertNothingLeft(fe);
});

test('no worker at all: 503 no_workers with Retry-After', async () => {
  const fe = await frontend({ namespace: freshNamespace() }, 0);
  const reply = await complete(fe.url, 0);
  assert.equal(reply.status, 503);
  assert.equal(reply.body.error?.code, 'no_workers');
  assert.ok(Number(reply.retryAfter) >= 1);
});
