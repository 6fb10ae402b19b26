/**
 * `dhw worker --engine llamacpp --model FILE.gguf` as a process behind our frontend (`--router kv`), real
 * etcd + NATS, the official `openai` client: on an f32 `dhw model convert` export of fortune-llama its
 * greedy chat answer is the model's golden text (Hugging Face transformers), streamed and not; it
 * publishes KV events for the router; a client that goes away cancels its request in the engine.
 *
 * node-llama-cpp is an optional package: without it these tests skip, printing the install command.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
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
import { convertToGguf } from '../../model/index.ts';
import { defaultModelDir } from '../../util/paths.ts';
import { LLAMA_CPP_INSTALL_HINT, llamaCppInstalled } from './llama-cpp-module.ts';

quietLogs();

const SKIP = llamaCppInstalled() ? false : `node-llama-cpp is not installed: ${LLAMA_CPP_INSTALL_HINT}`;

describe('dhw worker --engine llamacpp behind our frontend', { skip: SKIP }, () => {
  const tmp = mkdtempSync(join(tmpdir(), 'dhw-llamacpp-worker-'));
  let etcd: EtcdServer;
  let nats: NatsServer;
  let worker: WorkerProcess;
  let frontend: FrontendHandle;
  let client: OpenAI;
  const golden = goldenSamples()[0]!;

  before(async () => {
    [etcd, nats] = await Promise.all([startEtcd(), startNats()]);
    const { file } = await convertToGguf(defaultModelDir, {
      out: join(tmp, 'fortune-llama.gguf'),
      dtype: 'f32',
    });
    const namespace = freshNamespace();
    worker = await spawnWorker(
      [
        ...['--discovery', 'etcd', '--events', 'nats', '--namespace', namespace],
        ...['--engine', 'llamacpp', '--model', file, '--tokenizer', defaultModelDir, '--threads', '2'],
      ],
      { ETCD_ENDPOINTS: etcd.endpoint, NATS_SERVER: nats.url },
    );
    frontend = await startTestFrontend(
      {
        namespace,
        discovery: { backend: 'etcd', etcdEndpoints: etcd.endpoint },
        events: { backend: 'nats', natsServer: nats.url },
        router: { router: 'kv' },
      },
      1,
    );
    client = new OpenAI({ baseURL: `${frontend.url}/v1`, apiKey: 'x', maxRetries: 0 });
  });
  after(async () => {
    await frontend?.close();
    await worker?.stop();
    await Promise.all([etcd?.stop(), nats?.stop()]);
    rmSync(tmp, { recursive: true, force: true });
  });

  test('greedy chat equals the golden text, streamed and not', async () => {
    const model = 'fortune-llama';
    const res = await client.chat.completions.create({ model, messages: golden.messages, temperature: 0 });
    assert.equal(res.choices[0]!.message.content, golden.greedy_text);
    assert.equal(res.usage?.completion_tokens, golden.greedy_ids.length);
    const stream = await client.chat.completions.create({
      model,
      messages: golden.messages,
      temperature: 0,
      stream: true,
    });
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
    assert.equal(text, golden.greedy_text);
  });

  test('publishes KV events for the blocks it computed', async () => {
    const metrics = await worker.metrics();
    assert.ok(metricValue(metrics, 'dynamo_component_kv_events_published_total') > 0);
    assert.ok(metricValue(metrics, 'dynamo_component_kvstats_total_blocks') > 0);
  });

  test('a client that goes away mid-stream cancels its request in the engine', async () => {
    const controller = new AbortController();
    const stream = await client.completions.create(
      {
        model: 'fortune-llama',
        prompt: golden.prompt,
        max_tokens: 600,
        stream: true,
        ignore_eos: true,
      } as OpenAI.CompletionCreateParamsStreaming,
      { signal: controller.signal },
    );
    let chunks = 0;
    for await (const _ of stream) {
      if (++chunks < 3) continue;
      controller.abort();
      break;
    }
    const deadline = Date.now() + 15_000;
    let metrics = await worker.metrics();
    while (metricValue(metrics, 'dynamo_component_requests_total', { status: 'cancelled' }) < 1) {
      assert.ok(Date.now() < deadline, 'the worker counts the request cancelled');
      await new Promise((resolve) => setTimeout(resolve, 100));
      metrics = await worker.metrics();
    }
    assert.equal(metricValue(metrics, 'dynamo_component_inflight_requests'), 0);
    assert.equal(metricValue(metrics, 'dynamo_component_kvstats_active_blocks'), 0);
  });
});
