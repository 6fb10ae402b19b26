/**
 * `dhw worker --engine llamacpp --model FILE.gguf` as a process behind our frontend (`--router kv`), real
 * etcd + NATS, the official `openai` client: on an f32 `dhw model convert` export of fortune-llama its
 * greedy chat answer is the model's golden text (Hugging Face transformers), streamed and not; with two
 * such workers the router's KV index (fed by their KV events) sends a shared prefix back to the worker
 * that cached it; a client that goes away cancels its request in the engine.
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
  eventually,
  freshNamespace,
  goldenSamples,
  metricValue,
  quietLogs,
  spawnWorker,
  startTestFrontend,
  type WorkerProcess,
} from '../../frontend/testing/frontend-kit.ts';
import { type EtcdServer, type NatsServer, startEtcd, startNats } from '../../infra/local-servers.ts';
import { startAll } from '../../infra/testing/lifecycle-kit.ts';
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
  let second: WorkerProcess;
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
    const args = [
      ...['--discovery', 'etcd', '--events', 'nats', '--namespace', namespace],
      ...['--engine', 'llamacpp', '--model', file, '--tokenizer', defaultModelDir, '--threads', '1'],
    ];
    const env = { ETCD_ENDPOINTS: etcd.endpoint, NATS_SERVER: nats.url };
    [worker, second] = await startAll([spawnWorker(args, env), spawnWorker(args, env)]);
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
  });
  after(async () => {
    await frontend?.close();
    await Promise.all([worker?.stop(), second?.stop()]);
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

  test('--router kv sends a shared prefix back to the worker that cached it', async () => {
    for (let k = 0; k < 5; k++) {
      const prefix = Array.from({ length: 64 }, (_, i) => 10 + ((k * 613 + i * 29) % 2000));
      const applied = frontend.events.stats.kvEventsApplied;
      await client.completions.create({ model: 'fortune-llama', prompt: [...prefix, 5, 6], max_tokens: 2 });
      await eventually(
        () => frontend.events.stats.kvEventsApplied > applied,
        "the first request's KV events",
      );
      const again = await client.completions.create({
        model: 'fortune-llama',
        prompt: [...prefix, 7, 8, 9],
        max_tokens: 2,
      });
      const cached = again.usage?.prompt_tokens_details?.cached_tokens ?? 0;
      assert.ok(cached >= 64, `prefix ${k}: routed to the worker holding its 4 blocks (cached ${cached})`);
    }
    const published = await Promise.all(
      [worker, second].map(async (w) =>
        metricValue(await w.metrics(), 'dynamo_component_kv_events_published_total'),
      ),
    );
    assert.ok(published.reduce((a, b) => a + b, 0) > 0);
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
    // Either worker may have served it: sum both.
    const total = async (name: string, labels: Record<string, string> = {}) =>
      (
        await Promise.all([worker, second].map(async (w) => metricValue(await w.metrics(), name, labels)))
      ).reduce((a, b) => a + b, 0);
    const deadline = Date.now() + 15_000;
    while ((await total('dynamo_component_requests_total', { status: 'cancelled' })) < 1) {
      assert.ok(Date.now() < deadline, 'a worker counts the request cancelled');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    assert.equal(await total('dynamo_component_inflight_requests'), 0);
    assert.equal(await total('dynamo_component_kvstats_active_blocks'), 0);
  });
});
