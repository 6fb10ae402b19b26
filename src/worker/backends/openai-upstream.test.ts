/**
 * `dhw worker --engine openai` in front of a real OpenAI-compatible server — a second `dhw frontend` with
 * its own scratch worker (fortune-llama) — serving the official `openai` client through our frontend:
 * real etcd + NATS, worker processes, two namespaces (one per deployment).
 *   - greedy completions and chat, streamed and not, equal what the upstream answers directly;
 *   - prompts go as token ids (the probe finds our frontend takes them) or, forced, as text: same text;
 *   - the relay registers like any worker (model card, KV events derived from what it sent);
 *   - a client that goes away mid-stream cancels the upstream request (the upstream worker's request is
 *     counted `cancelled` and nothing stays in flight);
 *   - an upstream that goes away turns the relay's /health to 503 (its canary goes through the upstream)
 *     and fails requests instead of hanging them.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import OpenAI from 'openai';
import type { FrontendHandle } from '../../frontend/frontend.ts';
import {
  freshNamespace,
  goldenSamples,
  metricValue,
  quietLogs,
  spawnWorker,
  startTestFrontend,
  type WorkerProcess,
} from '../../frontend/testing/frontend-kit.ts';
import { type EtcdServer, type NatsServer, startEtcd, startNats } from '../../infra/local-servers.ts';
import { asWorkerId } from '../../protocols/ids.ts';
import { Tokenizer } from '../../tokens/index.ts';
import { defaultModelDir } from '../../util/paths.ts';
import { greedyRequest } from '../testing/worker-kit.ts';
import { OpenAiUpstreamEngine } from './openai-upstream-engine.ts';

quietLogs();

let etcd: EtcdServer;
let nats: NatsServer;
const closers: Array<() => Promise<unknown>> = [];
let upstreamWorker: WorkerProcess;
let upstream: FrontendHandle;
let relay: WorkerProcess;
let ours: FrontendHandle;
let direct: OpenAI;
let client: OpenAI;

async function frontendFor(namespace: string): Promise<FrontendHandle> {
  const fe = await startTestFrontend(
    {
      namespace,
      discovery: { backend: 'etcd', etcdEndpoints: etcd.endpoint },
      events: { backend: 'nats', natsServer: nats.url },
      router: { router: 'kv' },
    },
    1,
  );
  closers.push(() => fe.close());
  return fe;
}

before(async () => {
  [etcd, nats] = await Promise.all([startEtcd(), startNats()]);
  const env = { ETCD_ENDPOINTS: etcd.endpoint, NATS_SERVER: nats.url };
  const common = ['--discovery', 'etcd', '--events', 'nats'];
  const upstreamNs = freshNamespace();
  upstreamWorker = await spawnWorker([...common, '--namespace', upstreamNs], env);
  closers.push(() => upstreamWorker.stop());
  upstream = await frontendFor(upstreamNs);
  const oursNs = freshNamespace();
  relay = await spawnWorker(
    [
      ...common,
      '--namespace',
      oursNs,
      '--engine',
      'openai',
      '--upstream',
      upstream.url,
      '--canary-interval',
      '1',
    ],
    env,
  );
  closers.push(() => relay.stop());
  ours = await frontendFor(oursNs);
  direct = new OpenAI({ baseURL: `${upstream.url}/v1`, apiKey: 'x', maxRetries: 0 });
  client = new OpenAI({ baseURL: `${ours.url}/v1`, apiKey: 'x', maxRetries: 0 });
});
after(async () => {
  for (const close of closers.reverse()) await close().catch(() => {});
  await Promise.all([etcd?.stop(), nats?.stop()]);
});

/** The golden chat prompt as text: fortune-llama answers it at length. */
const PROMPT = goldenSamples()[0]!.prompt;

test('completions through the relay equal the upstream, streamed and not', async () => {
  const expected = await direct.completions.create({
    model: 'fortune-llama',
    prompt: PROMPT,
    max_tokens: 24,
    temperature: 0,
  });
  const got = await client.completions.create({
    model: 'fortune-llama',
    prompt: PROMPT,
    max_tokens: 24,
    temperature: 0,
  });
  assert.ok(expected.choices[0]!.text.length > 0);
  assert.equal(got.choices[0]!.text, expected.choices[0]!.text);
  assert.equal(got.choices[0]!.finish_reason, expected.choices[0]!.finish_reason);
  const stream = await client.completions.create({
    model: 'fortune-llama',
    prompt: PROMPT,
    max_tokens: 24,
    temperature: 0,
    stream: true,
  });
  const pieces: string[] = [];
  for await (const chunk of stream) pieces.push(chunk.choices[0]?.text ?? '');
  assert.ok(pieces.filter((p) => p !== '').length > 1, 'streamed in several chunks');
  assert.equal(pieces.join(''), expected.choices[0]!.text);
});

test('chat through the relay equals the upstream, streamed and not', async () => {
  const messages = [{ role: 'user' as const, content: 'Tell me a fortune.' }];
  const expected = await direct.chat.completions.create({
    model: 'fortune-llama',
    messages,
    max_tokens: 20,
    temperature: 0,
  });
  const got = await client.chat.completions.create({
    model: 'fortune-llama',
    messages,
    max_tokens: 20,
    temperature: 0,
  });
  assert.equal(got.choices[0]!.message.content, expected.choices[0]!.message.content);
  const stream = await client.chat.completions.create({
    model: 'fortune-llama',
    messages,
    max_tokens: 20,
    temperature: 0,
    stream: true,
  });
  let text = '';
  for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
  assert.equal(text, expected.choices[0]!.message.content);
});

test('the relay registers like any worker and publishes KV events for what it sent', async () => {
  const metrics = await relay.metrics();
  assert.ok(metricValue(metrics, 'dynamo_component_requests_total', { status: 'success' }) >= 1);
  assert.ok(metricValue(metrics, 'dynamo_component_kv_events_published_total') > 0, 'KV events published');
  assert.equal(ours.models.instances().length, 1);
});

test('a client that goes away mid-stream cancels the upstream request', async () => {
  const before = metricValue(await upstreamWorker.metrics(), 'dynamo_component_requests_total', {
    status: 'cancelled',
  });
  const controller = new AbortController();
  const stream = await client.completions.create(
    {
      model: 'fortune-llama',
      prompt: PROMPT,
      max_tokens: 900,
      temperature: 0,
      stream: true,
      ignore_eos: true,
    } as OpenAI.CompletionCreateParamsStreaming,
    { signal: controller.signal },
  );
  let chunks = 0;
  for await (const _ of stream) {
    if (++chunks < 3) continue;
    controller.abort(); // the client goes away; the openai client closes the connection
    break;
  }
  assert.equal(chunks, 3);
  let after = before;
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    const m = await upstreamWorker.metrics();
    after = metricValue(m, 'dynamo_component_requests_total', { status: 'cancelled' });
    const relayInflight = metricValue(await relay.metrics(), 'dynamo_component_inflight_requests');
    if (after > before && metricValue(m, 'dynamo_component_inflight_requests') === 0 && relayInflight === 0)
      break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  assert.ok(after > before, 'the upstream request was cancelled, not run to max_tokens');
  assert.equal(metricValue(await upstreamWorker.metrics(), 'dynamo_component_inflight_requests'), 0);
  assert.equal(metricValue(await relay.metrics(), 'dynamo_component_inflight_requests'), 0);
});

test('prompts travel as token ids where the upstream takes them, else as text: the same greedy text', async () => {
  const expected = await direct.completions.create({
    model: 'fortune-llama',
    prompt: PROMPT,
    max_tokens: 16,
    temperature: 0,
  });
  const tokenizer = await Tokenizer.fromDir(defaultModelDir);
  const request = greedyRequest(tokenizer.encode(PROMPT), 16);
  for (const promptFormat of [undefined, 'text'] as const) {
    const engine = await OpenAiUpstreamEngine.create(
      { upstream: upstream.url, tokenizerDir: defaultModelDir, ...(promptFormat ? { promptFormat } : {}) },
      asWorkerId('relay-in-process'),
    );
    try {
      assert.equal(engine.promptFormat, promptFormat ?? 'tokens', 'our frontend takes token-id prompts');
      const ids: number[] = [];
      for await (const o of engine.generate({
        ...request,
        stopping: { ...request.stopping, ignoreEos: false, stopTokenIds: [...engine.info.eosTokenIds] },
      }))
        ids.push(o.tokenId);
      assert.equal(
        tokenizer.decode(ids, { skipSpecialTokens: true }),
        expected.choices[0]!.text,
        `${engine.promptFormat} prompts`,
      );
    } finally {
      await engine.close();
    }
  }
});

test('an upstream that goes away: the relay reports unhealthy and requests fail', async () => {
  await upstream.close();
  const health = `http://127.0.0.1:${relay.systemPort}/health`;
  const deadline = Date.now() + 20_000;
  while ((await fetch(health)).status !== 503) {
    assert.ok(Date.now() < deadline, 'the relay turns unhealthy within 20 s');
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  await assert.rejects(
    client.completions.create({ model: 'fortune-llama', prompt: PROMPT, max_tokens: 4, temperature: 0 }),
  );
});
