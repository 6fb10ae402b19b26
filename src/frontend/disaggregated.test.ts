/**
 * Disaggregated serving end to end, through HTTP: real etcd (discovery, transfer-agent metadata) and NATS
 * (KV events), `dhw worker --role prefill|decode` processes whose transfer agents move the KV, and the
 * frontend deciding per request.
 *   - scratch engines (fortune-llama): 1 prefill + 1 decode worker answer exactly what 1 aggregated worker
 *     answers, greedy, for prompts on both sides of --max-local-prefill-length and across block boundaries;
 *     a remote request's cached_tokens is what the decode worker did not recompute (P − 1);
 *   - mocker engines (fast): a short prompt stays local and a long one goes remote (decision counter); a
 *     prefill worker killed while still registered fails its prefill, and the request completes with local
 *     prefill (failure counter), as do the next ones.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type EtcdServer, type NatsServer, startEtcd, startNats } from '../infra/local-servers.ts';
import { startAll } from '../infra/testing/lifecycle-kit.ts';
import type { FrontendHandle, FrontendOptions } from './frontend.ts';
import {
  eventually,
  freshNamespace,
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
let env: Record<string, string>;
const started: { close(): Promise<void> }[] = [];

before(async () => {
  [etcd, nats] = await Promise.all([startEtcd(), startNats()]);
  env = { ETCD_ENDPOINTS: etcd.endpoint, NATS_SERVER: nats.url };
});
after(async () => {
  for (const s of started.reverse()) await s.close().catch(() => {});
  await Promise.all([etcd?.stop(), nats?.stop()]);
});

/** Workers of one namespace and the frontend in front of them, closed by the file's `after`. */
async function deployment(
  workerArgs: string[][],
  frontend: Partial<FrontendOptions> = {},
): Promise<{ frontend: FrontendHandle; workers: WorkerProcess[] }> {
  const namespace = freshNamespace();
  const common = ['--discovery', 'etcd', '--events', 'nats', '--namespace', namespace];
  const workers = await startAll(workerArgs.map((args) => spawnWorker([...common, ...args], env)));
  started.push({ close: async () => void (await Promise.all(workers.map((w) => w.stop()))) });
  const fe = await startTestFrontend(
    {
      namespace,
      discovery: { backend: 'etcd', etcdEndpoints: etcd.endpoint },
      events: { backend: 'nats', natsServer: nats.url },
      router: { router: 'kv' },
      ...frontend,
    },
    0,
  );
  started.push(fe);
  const known = () => fe.models.instances().length + fe.models.prefillInstances().length;
  await eventually(() => known() === workers.length, `${workers.length} workers in the frontend`);
  return { frontend: fe, workers };
}

interface Completion {
  text: string;
  completionTokens: number;
  promptTokens: number;
  cachedTokens: number;
}

async function complete(fe: FrontendHandle, prompt: number[], maxTokens: number): Promise<Completion> {
  const res = await fetch(`${fe.url}/v1/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'fortune-llama', prompt, max_tokens: maxTokens, temperature: 0 }),
  });
  const body = (await res.json()) as {
    choices: { text: string }[];
    usage: {
      prompt_tokens: number;
      completion_tokens: number;
      prompt_tokens_details?: { cached_tokens: number };
    };
  };
  assert.equal(res.status, 200, JSON.stringify(body));
  return {
    text: body.choices[0]!.text,
    completionTokens: body.usage.completion_tokens,
    promptTokens: body.usage.prompt_tokens,
    cachedTokens: body.usage.prompt_tokens_details?.cached_tokens ?? 0,
  };
}

async function frontendMetric(fe: FrontendHandle, name: string, labels: Record<string, string> = {}) {
  return metricValue(await (await fetch(`${fe.url}/metrics`)).text(), name, labels);
}

/** A long run of real token ids (the golden texts, numbered and concatenated) to cut exact-length prompts from. */
function tokenPool(fe: FrontendHandle): number[] {
  const tokenizer = fe.models.find('fortune-llama')?.tokenizer;
  assert.ok(tokenizer, 'the model is served');
  const texts = goldenSamples().flatMap((s) => [s.prompt, s.greedy_text]);
  const story = Array.from({ length: 6 }, (_, round) => texts.map((t) => `${round}. ${t}`).join(' ')).join(
    ' ',
  );
  return tokenizer.encode(story);
}

describe('scratch engines: 1 prefill + 1 decode worker vs 1 aggregated worker', () => {
  const MAX_LOCAL = 8;
  let disagg: { frontend: FrontendHandle; workers: WorkerProcess[] };
  let aggregated: { frontend: FrontendHandle; workers: WorkerProcess[] };

  before(async () => {
    [disagg, aggregated] = await Promise.all([
      deployment(
        [
          ['--role', 'prefill'],
          ['--role', 'decode'],
        ],
        {
          disagg: { maxLocalPrefillLength: MAX_LOCAL },
        },
      ),
      deployment([[]]),
    ]);
  });

  test('greedy completions are identical; cached_tokens = what the decode worker did not recompute', async () => {
    const pool = tokenPool(disagg.frontend);
    const [prefill, decode] = disagg.workers as [WorkerProcess, WorkerProcess];
    const model = disagg.frontend.models.find('fortune-llama');
    assert.ok(model);
    const blockSize = model.card.kvCacheBlockSize;
    // Lengths around block boundaries; each prompt starts at its own offset so none shares a cached prefix.
    const lengths = [
      5,
      MAX_LOCAL,
      blockSize - 1,
      blockSize,
      blockSize + 1,
      2 * blockSize,
      2 * blockSize + 3,
      3 * blockSize + 7,
    ];
    assert.ok(pool.length >= 11 * lengths.length + Math.max(...lengths), 'enough golden prompt tokens');
    let remote = 0;
    for (const [i, length] of lengths.entries()) {
      const prompt = pool.slice(11 * i, 11 * i + length);
      const decisionsBefore = await frontendMetric(
        disagg.frontend,
        'dynamo_frontend_disagg_decisions_total',
        {
          reason: 'remote',
        },
      );
      const [split, whole] = await Promise.all([
        complete(disagg.frontend, prompt, 12),
        complete(aggregated.frontend, prompt, 12),
      ]);
      const what = `prompt of ${length} tokens`;
      assert.equal(split.text, whole.text, `${what}: same greedy text`);
      assert.equal(split.completionTokens, whole.completionTokens, what);
      assert.equal(split.promptTokens, length, what);
      const wentRemote =
        (await frontendMetric(disagg.frontend, 'dynamo_frontend_disagg_decisions_total', {
          reason: 'remote',
        })) - decisionsBefore;
      assert.equal(wentRemote, length > MAX_LOCAL ? 1 : 0, `${what}: remote iff longer than ${MAX_LOCAL}`);
      if (wentRemote) {
        remote++;
        assert.equal(split.cachedTokens, length - 1, `${what}: decode recomputed only the last prompt token`);
      } else {
        assert.equal(split.cachedTokens, whole.cachedTokens, `${what}: local prefill, nothing transferred`);
      }
    }
    assert.ok(remote >= 5);
    assert.equal(await frontendMetric(disagg.frontend, 'dynamo_frontend_remote_prefill_failures_total'), 0);
    const decodeMetrics = await decode.metrics();
    assert.equal(
      metricValue(decodeMetrics, 'dynamo_component_kv_transfer_total', { outcome: 'ok' }),
      remote,
      'every remote prefill was pulled by the decode worker',
    );
    assert.equal(metricValue(decodeMetrics, 'dynamo_component_kv_transfer_fallbacks_total'), 0);
    // Every pull released its blocks on the prefill worker (the release notification crossed the agents).
    let held = Number.NaN;
    for (let i = 0; i < 100 && held !== 0; i++) {
      if (i > 0) await new Promise((resolve) => setTimeout(resolve, 100));
      held = metricValue(await prefill.metrics(), 'dynamo_component_kv_transfer_held_blocks');
    }
    assert.equal(held, 0, 'no blocks left held on the prefill worker');
  });
});

describe('mocker engines: conditional disaggregation and prefill failures', () => {
  const MAX_LOCAL = 32;
  const mocker = ['--engine', 'mocker', '--speedup-ratio', '0'];
  let stack: { frontend: FrontendHandle; workers: WorkerProcess[] };

  before(async () => {
    stack = await deployment(
      [
        [...mocker, '--role', 'prefill'],
        [...mocker, '--role', 'decode'],
      ],
      { disagg: { maxLocalPrefillLength: MAX_LOCAL } },
    );
  });

  test('a short prompt stays on the decode worker, a long one is prefilled remotely', async () => {
    const fe = stack.frontend;
    const pool = tokenPool(fe);
    const short = await complete(fe, pool.slice(0, 10), 4);
    assert.equal(short.completionTokens, 4);
    assert.equal(
      await frontendMetric(fe, 'dynamo_frontend_disagg_decisions_total', { reason: 'short_uncached_prompt' }),
      1,
    );
    assert.equal(await frontendMetric(fe, 'dynamo_frontend_disagg_decisions_total', { reason: 'remote' }), 0);

    const long = await complete(fe, pool.slice(20, 120), 4);
    assert.equal(long.completionTokens, 4);
    assert.equal(long.cachedTokens, 99, 'the decode worker computed only the last prompt token');
    assert.equal(await frontendMetric(fe, 'dynamo_frontend_disagg_decisions_total', { reason: 'remote' }), 1);
    assert.equal(await frontendMetric(fe, 'dynamo_frontend_remote_prefill_failures_total'), 0);
    const health = (await (await fetch(`${fe.url}/health`)).json()) as {
      instances: { id: string }[];
      prefill_instances: { id: string }[];
    };
    assert.deepEqual(
      health.instances.map((i) => i.id),
      [stack.workers[1]!.instanceId],
    );
    assert.deepEqual(
      health.prefill_instances.map((i) => i.id),
      [stack.workers[0]!.instanceId],
      '/health lists the prefill worker apart',
    );
  });

  test('a prefill worker killed while still registered: the request completes with local prefill', async () => {
    const fe = stack.frontend;
    const [prefill] = stack.workers as [WorkerProcess];
    prefill.child.kill('SIGKILL'); // no graceful deregistration: its discovery entry lives until the lease expires
    await prefill.exited;
    assert.equal(fe.models.find('fortune-llama')?.prefillRouter.size, 1, 'still in the prefill pool');

    const pool = tokenPool(fe);
    const first = await complete(fe, pool.slice(200, 300), 4);
    assert.equal(first.completionTokens, 4, 'the request was not lost');
    assert.equal(first.cachedTokens, 0, 'prefilled locally on the decode worker');
    assert.equal(
      await frontendMetric(fe, 'dynamo_frontend_remote_prefill_failures_total', { reason: 'connect' }),
      1,
    );

    // The dead worker is quarantined: the next long prompt is decided locally at once, no new failure.
    const second = await complete(fe, pool.slice(300, 400), 4);
    assert.equal(second.completionTokens, 4);
    assert.equal(await frontendMetric(fe, 'dynamo_frontend_remote_prefill_failures_total'), 1);
    assert.ok(
      (await frontendMetric(fe, 'dynamo_frontend_disagg_decisions_total', {
        reason: 'no_prefill_workers',
      })) >= 1,
    );
  });
});
