/**
 * `dhw serve --prefill-workers 1 --decode-workers 1` with real etcd and NATS: the workers are `dhw worker`
 * child processes (scratch engines), so the prompt's KV crosses processes on the transfer agents' Unix
 * sockets. Every prompt goes remote (--max-local-prefill-length 0) and the answer is still the golden greedy
 * text; after Ctrl-C nothing of the deployment is left in etcd (instances, model cards, agent metadata).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import OpenAI from 'openai';
import { quietLogs, spawnDhw } from '../../frontend/testing/frontend-kit.ts';
import { freePort } from '../../infra/free-port.ts';
import { createDiscovery, type Discovery } from '../../runtime/discovery/index.ts';
import { defaultModelDir } from '../../util/paths.ts';
import { freshNamespace, startInfra, type TestInfra } from '../../worker/testing/worker-kit.ts';

quietLogs();

let infra: TestInfra;
let observer: Discovery;

before(async () => {
  infra = await startInfra();
  observer = await createDiscovery({ backend: 'etcd', etcdEndpoints: infra.etcd.endpoint });
});
after(async () => {
  await observer?.close();
  await infra?.stop();
});

const golden = JSON.parse(readFileSync(join(defaultModelDir, 'golden.json'), 'utf8')).samples[0];

test('child prefill + decode workers on etcd/NATS: remote prefill over a Unix socket (same host, --kv-transfer auto), golden text, clean exit', async () => {
  const namespace = freshNamespace();
  const port = await freePort();
  const serve = await spawnDhw(
    [
      'serve',
      '--discovery',
      'etcd',
      '--etcd-endpoints',
      infra.etcd.endpoint,
      '--events',
      'nats',
      '--nats-server',
      infra.nats.url,
      '--namespace',
      namespace,
      '--prefill-workers',
      '1',
      '--decode-workers',
      '1',
      '--max-local-prefill-length',
      '0',
      '--host',
      '127.0.0.1',
      '--port',
      String(port),
    ],
    /Serving fortune-llama at .* with 1 prefill \+ 1 decode worker\(s\), router kv-delay/,
    { timeoutMs: 120_000 },
  );
  const url = `http://127.0.0.1:${port}`;
  const agents = `/dynamo/v1/nixl_metadata/${namespace}/`;
  assert.equal((await observer.list(agents)).length, 2, 'both workers published their agent metadata');

  const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: 'x', maxRetries: 0 });
  const res = await client.chat.completions.create({
    model: 'fortune-llama',
    messages: golden.messages,
    temperature: 0,
  });
  assert.equal(res.choices[0].message.content, golden.greedy_text);
  const metrics = await (await fetch(`${url}/metrics`)).text();
  assert.match(metrics, /dynamo_frontend_disagg_decisions_total\{[^}]*reason="remote"\} 1\b/);
  assert.match(serve.output(), /\[decode-1\] .*kv transfer pulled .*transport=unix/);

  serve.child.kill('SIGTERM');
  assert.equal(await serve.exited, 0);
  assert.deepEqual(await observer.list(agents), []);
  assert.deepEqual(await observer.list(`/dynamo/v1/instances/${namespace}/`), []);
  assert.deepEqual(await observer.list(`/dynamo/v1/mdc/${namespace}/`), []);
});
