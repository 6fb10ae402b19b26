/**
 * The distributed stack for real: etcd + nats-server on free ports, two `dhw worker` processes (scratch
 * engine, fortune-llama) registering in etcd and publishing KV events on NATS, and the frontend watching
 * both. The official `openai` client talks to it; KV-aware routing must send a shared prefix back to the
 * worker that cached it; a namespace without workers answers 503.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import OpenAI from 'openai';
import { type EtcdServer, type NatsServer, startEtcd, startNats } from '../infra/local-servers.ts';
import { startAll } from '../infra/testing/lifecycle-kit.ts';
import { asWorkerId } from '../protocols/ids.ts';
import type { FrontendHandle } from './frontend.ts';
import { chatPromptIds } from './preprocessor.ts';
import {
  eventually,
  freshNamespace,
  type GoldenSample,
  goldenSamples,
  metricValue,
  quietLogs,
  spawnWorker,
  startTestFrontend,
  type WorkerProcess,
} from './testing/frontend-kit.ts';

quietLogs();

let etcd: EtcdServer;
let nats: NatsServer;
let namespace: string;
let workers: WorkerProcess[] = [];
let frontend: FrontendHandle;
let client: OpenAI;
let golden: GoldenSample;

before(async () => {
  [etcd, nats] = await Promise.all([startEtcd(), startNats()]);
  namespace = freshNamespace();
  const args = ['--discovery', 'etcd', '--events', 'nats', '--namespace', namespace];
  const env = { ETCD_ENDPOINTS: etcd.endpoint, NATS_SERVER: nats.url };
  workers = await startAll([spawnWorker(args, env), spawnWorker(args, env)]);
  frontend = await startTestFrontend(
    {
      namespace,
      discovery: { backend: 'etcd', etcdEndpoints: etcd.endpoint },
      events: { backend: 'nats', natsServer: nats.url },
      router: { router: 'kv' },
    },
    2,
  );
  client = new OpenAI({ baseURL: `${frontend.url}/v1`, apiKey: 'x', maxRetries: 0 });
  golden = goldenSamples()[0];
});
after(async () => {
  await frontend?.close();
  await Promise.all(workers.map((w) => w.stop()));
  await Promise.all([etcd?.stop(), nats?.stop()]);
});

test('the openai client through frontend + 2 workers: greedy text equals the golden', async () => {
  const res = await client.chat.completions.create({
    model: 'fortune-llama',
    messages: golden.messages,
    temperature: 0,
  });
  assert.equal(res.choices[0].message.content, golden.greedy_text);
  assert.equal(res.usage?.completion_tokens, golden.greedy_ids.length);

  const stream = await client.chat.completions.create({
    model: 'fortune-llama',
    messages: golden.messages,
    temperature: 0,
    stream: true,
    stream_options: { include_usage: true },
  });
  let text = '';
  let usage: OpenAI.CompletionUsage | undefined | null;
  for await (const chunk of stream) {
    text += chunk.choices[0]?.delta.content ?? '';
    usage ??= chunk.usage;
  }
  assert.equal(text, golden.greedy_text);
  assert.equal(usage?.completion_tokens, golden.greedy_ids.length);

  const models = await client.models.list();
  assert.deepEqual(
    models.data.map((m) => m.id),
    ['fortune-llama'],
  );
  const health = (await (await fetch(`${frontend.url}/health`)).json()) as {
    instances: { id: string; address: string; model: string }[];
  };
  assert.deepEqual(health.instances.map((i) => i.id).sort(), workers.map((w) => w.instanceId).sort());
  assert.ok(health.instances.every((i) => i.model === 'fortune-llama'));
});

/** Generate calls each worker has served so far (its own /metrics). */
async function servedPerWorker(): Promise<number[]> {
  return Promise.all(
    workers.map(async (w) => metricValue(await w.metrics(), 'dynamo_component_requests_total')),
  );
}

test('kv routing: a request sharing a ≥ 3-block prefix goes to the worker that cached it', async () => {
  // A prompt of ~5 blocks (16 tokens each) no earlier test used, then the same prompt plus a new question.
  const shared =
    'Here is a long shared preamble about fortune cookies, lucky numbers and the many ways a small piece of ' +
    'paper can predict a future full of surprises, journeys and unexpected friendships.';
  const first = { role: 'user' as const, content: `${shared} Tell me one fortune.` };
  const before = await servedPerWorker();
  const applied = frontend.events.stats.kvEventsApplied;
  const r1 = await client.chat.completions.create({
    model: 'fortune-llama',
    messages: [first],
    max_tokens: 4,
    temperature: 0,
  });
  assert.ok(
    (r1.usage?.prompt_tokens ?? 0) >= 48,
    `prompt of ${r1.usage?.prompt_tokens} tokens spans ≥ 3 blocks`,
  );
  const afterFirst = await servedPerWorker();
  const chosen = afterFirst.findIndex((n, i) => n > before[i]);
  assert.ok(chosen >= 0);
  // The worker's stored-block events reach the router through NATS before we send the follow-up: wait
  // until the router's index shows the prefix on the chosen worker.
  const followUp = [
    first,
    { role: 'assistant' as const, content: 'x' },
    { role: 'user' as const, content: 'And another?' },
  ];
  const model = frontend.models.find('fortune-llama');
  assert.ok(model);
  const tokenIds = chatPromptIds(model.tokenizer, followUp);
  const overlapOnChosen = () =>
    model.router
      .inspect({ requestId: 'probe', tokenIds })
      .find((v) => v.workerId === workers[chosen].instanceId)?.overlapBlocks ?? 0;
  // Its load report must also say the first request is over (a stale "5 active blocks" costs as much as
  // the cache saves): both arrive on the event plane shortly after the response.
  const idle = () => {
    const load = model.router.loadOf(asWorkerId(workers[chosen].instanceId));
    return load !== undefined && load.activeDecodeBlocks === 0 && load.activePrefillTokens === 0;
  };
  await eventually(
    () => overlapOnChosen() >= 3 && idle(),
    'the prefix in the router index, and an idle load report',
  );
  assert.ok(frontend.events.stats.kvEventsApplied > applied);

  const r2 = await client.chat.completions.create({
    model: 'fortune-llama',
    messages: followUp,
    max_tokens: 4,
    temperature: 0,
  });
  const afterSecond = await servedPerWorker();
  assert.equal(afterSecond[chosen], afterFirst[chosen] + 1, 'the follow-up went to the same worker');
  assert.equal(afterSecond[1 - chosen], afterFirst[1 - chosen]);
  const cached = r2.usage?.prompt_tokens_details?.cached_tokens ?? 0;
  assert.ok(cached >= 48, `cached_tokens = ${cached}`);
});

test('a namespace without workers: 503 "no workers available" in OpenAI error shape', async () => {
  const empty = await startTestFrontend(
    {
      namespace: freshNamespace(),
      discovery: { backend: 'etcd', etcdEndpoints: etcd.endpoint },
      events: { backend: 'nats', natsServer: nats.url },
    },
    0,
  );
  try {
    const res = await fetch(`${empty.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'fortune-llama', messages: [{ role: 'user', content: 'hi' }] }),
    });
    assert.equal(res.status, 503);
    const body = (await res.json()) as { error: { message: string; type: string; code: string } };
    assert.match(body.error.message, /no workers available/);
    assert.equal(body.error.code, 'no_workers');
    const models = (await (await fetch(`${empty.url}/v1/models`)).json()) as { data: unknown[] };
    assert.deepEqual(models.data, []);
  } finally {
    await empty.close();
  }
});

test('a model disappears with its last worker: then 503, and it comes back with a new worker', async () => {
  const ns = freshNamespace();
  const env = { ETCD_ENDPOINTS: etcd.endpoint, NATS_SERVER: nats.url };
  const args = [
    '--engine',
    'mocker',
    '--speedup-ratio',
    '0',
    '--discovery',
    'etcd',
    '--events',
    'nats',
    '--namespace',
    ns,
  ];
  const worker = await spawnWorker(args, env);
  const fe = await startTestFrontend(
    {
      namespace: ns,
      discovery: { backend: 'etcd', etcdEndpoints: etcd.endpoint },
      events: { backend: 'nats', natsServer: nats.url },
    },
    1,
  );
  const ask = () =>
    fetch(`${fe.url}/v1/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'fortune-llama', prompt: 'Hello', max_tokens: 3 }),
    });
  try {
    assert.equal((await ask()).status, 200);
    await worker.stop(); // graceful: the worker deletes its keys at once
    await eventually(() => fe.models.list().length === 0, 'the model to disappear');
    assert.equal((await ask()).status, 503);
    const again = await spawnWorker(args, env);
    try {
      await eventually(() => fe.models.list().length === 1, 'the model to come back');
      assert.equal((await ask()).status, 200);
    } finally {
      await again.stop();
    }
  } finally {
    await fe.close();
    await worker.stop();
  }
});
