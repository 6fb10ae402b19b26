/**
 * The layer-wise hand-off end to end, through HTTP: real etcd + NATS, `dhw worker --role prefill|decode`
 * processes (scratch engine, fortune-llama) and the frontend with `--kv-transfer-mode layerwise`, which
 * sends both hops at once; the prefill worker pushes each layer into the decode worker's blocks.
 *   - greedy completions equal 1 aggregated worker's, for prompts around block boundaries and for a prompt
 *     whose prefix the decode worker already caches; cached_tokens = P − 1; every remote prompt was pushed
 *     (the decode worker counts pushes, no fallback); no block active or held afterwards;
 *   - the prefill worker killed with `kill -9` while it pushes a long prompt (after the first layer landed
 *     on the decode worker): the request completes with the same text (the decode worker prefills it once
 *     the destination's ttl and grace have passed), and no block stays taken on the decode worker.
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

const ACTIVE = 'dynamo_component_kvstats_active_blocks';
const HELD = 'dynamo_component_kv_transfer_held_blocks';
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

async function complete(fe: FrontendHandle, prompt: number[], maxTokens: number) {
  const res = await fetch(`${fe.url}/v1/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'fortune-llama', prompt, max_tokens: maxTokens, temperature: 0 }),
  });
  const body = (await res.json()) as {
    choices: { text: string }[];
    usage: { completion_tokens: number; prompt_tokens_details?: { cached_tokens: number } };
  };
  assert.equal(res.status, 200, JSON.stringify(body));
  return {
    text: body.choices[0]!.text,
    completionTokens: body.usage.completion_tokens,
    cachedTokens: body.usage.prompt_tokens_details?.cached_tokens ?? 0,
  };
}

/** Real token ids (the golden texts, numbered and concatenated) to cut exact-length prompts from. */
function tokenPool(fe: FrontendHandle): number[] {
  const tokenizer = fe.models.find('fortune-llama')?.tokenizer;
  assert.ok(tokenizer, 'the model is served');
  const texts = goldenSamples().flatMap((s) => [s.prompt, s.greedy_text]);
  const rounds = Array.from({ length: 12 }, (_, round) => texts.map((t) => `${round}. ${t}`).join(' '));
  return tokenizer.encode(rounds.join(' '));
}

async function frontendMetric(fe: FrontendHandle, name: string, labels: Record<string, string> = {}) {
  return metricValue(await (await fetch(`${fe.url}/metrics`)).text(), name, labels);
}

async function assertNoBlocksTaken(workers: WorkerProcess[]): Promise<void> {
  for (const w of workers) {
    let taken = Number.NaN;
    for (let i = 0; i < 100 && taken !== 0; i++) {
      if (i > 0) await new Promise((resolve) => setTimeout(resolve, 100));
      const text = await w.metrics();
      taken = metricValue(text, ACTIVE) + metricValue(text, HELD);
    }
    assert.equal(taken, 0, `no active or held blocks on worker ${w.instanceId}`);
  }
}

describe('fortune-llama, --kv-transfer-mode layerwise vs 1 aggregated worker', () => {
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
        { disagg: { maxLocalPrefillLength: MAX_LOCAL }, kvTransferMode: 'layerwise' },
      ),
      deployment([[]]),
    ]);
  });

  test('greedy completions are identical; cached_tokens = P − 1; every remote prompt pushed', async () => {
    const fe = disagg.frontend;
    const pool = tokenPool(fe);
    const [prefill, decode] = disagg.workers as [WorkerProcess, WorkerProcess];
    const lengths = [5, 15, 16, 17, 32, 35, 55];
    let remote = 0;
    for (const [i, length] of lengths.entries()) {
      const prompt = pool.slice(13 * i, 13 * i + length);
      const [split, whole] = await Promise.all([
        complete(fe, prompt, 10),
        complete(aggregated.frontend, prompt, 10),
      ]);
      assert.equal(split.text, whole.text, `prompt of ${length} tokens: same greedy text`);
      assert.equal(split.completionTokens, whole.completionTokens);
      if (length > MAX_LOCAL) {
        remote++;
        assert.equal(split.cachedTokens, length - 1, `prompt of ${length}: only the last token recomputed`);
      }
    }
    // A prefix the decode worker caches now (the 55-token prompt's first 3 blocks), extended: still remote
    // (more than MAX_LOCAL tokens uncached there), and only the missing blocks are pushed.
    const cachedPrefix = pool.slice(13 * 6, 13 * 6 + 55);
    const extended = [...cachedPrefix, ...pool.slice(500, 530)];
    const [split, whole] = await Promise.all([
      complete(fe, extended, 10),
      complete(aggregated.frontend, extended, 10),
    ]);
    assert.equal(split.text, whole.text, 'prefix hit on the decode side: same greedy text');
    assert.equal(split.cachedTokens, extended.length - 1);
    remote++;

    assert.equal(
      await frontendMetric(fe, 'dynamo_frontend_disagg_decisions_total', { reason: 'remote' }),
      remote,
    );
    assert.equal(await frontendMetric(fe, 'dynamo_frontend_remote_prefill_failures_total'), 0);
    const decodeMetrics = await decode.metrics();
    assert.equal(
      metricValue(decodeMetrics, 'dynamo_component_kv_transfer_pulls_total', { transport: 'push' }),
      remote,
      'every remote prompt was pushed into the decode worker',
    );
    assert.equal(metricValue(decodeMetrics, 'dynamo_component_kv_transfer_fallbacks_total'), 0);
    assert.equal(
      metricValue(await prefill.metrics(), 'dynamo_component_kv_transfer_layer_pushes_total', {
        outcome: 'ok',
      }),
      remote * 6,
      'one WRITE per layer per remote prompt',
    );
    await assertNoBlocksTaken(disagg.workers);
  });
});

describe('layerwise: the prefill worker killed -9 mid-push', () => {
  let stack: { frontend: FrontendHandle; workers: WorkerProcess[] };
  let aggregated: { frontend: FrontendHandle; workers: WorkerProcess[] };

  before(async () => {
    [stack, aggregated] = await Promise.all([
      deployment(
        [
          ['--role', 'prefill'],
          // Debug logs: the test waits for "first pushed KV layer landed" before it kills the prefill worker.
          ['--role', 'decode', '--kv-pull-timeout', '8000', '--log-level', 'debug'],
        ],
        { disagg: { maxLocalPrefillLength: 8 }, kvTransferMode: 'layerwise' },
      ),
      deployment([[]]),
    ]);
  });

  test('the request completes with the aggregated text; no block stays taken on the decode worker', async () => {
    const fe = stack.frontend;
    const [prefill, decode] = stack.workers as [WorkerProcess, WorkerProcess];
    const prompt = tokenPool(fe).slice(0, 900); // a prefill long enough to be killed between two layers
    const expected = await complete(aggregated.frontend, prompt, 8);
    // Kill the prefill worker in the very callback that reads the decode worker's "first layer landed" line:
    // the other layers of this prompt take only milliseconds, and a polling wait (plus a loaded box's
    // scheduling) can let the whole push finish first, leaving nothing to discard.
    const marker = 'first pushed KV layer landed';
    let seen = '';
    let onData = (_chunk: Buffer) => {};
    const killedMidPush = new Promise<void>((resolve) => {
      onData = (chunk: Buffer) => {
        const text = seen + chunk.toString('utf8');
        seen = text.slice(-marker.length); // a marker split across two reads
        if (!text.includes(marker)) return;
        prefill.child.kill('SIGKILL');
        resolve();
      };
    });
    decode.child.stdout?.on('data', onData);
    decode.child.stderr?.on('data', onData);
    const answer = complete(fe, prompt, 8);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      killedMidPush,
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error('timed out waiting for the first pushed layer')), 60_000);
      }),
    ]).finally(() => {
      clearTimeout(timer);
      decode.child.stdout?.off('data', onData);
      decode.child.stderr?.off('data', onData);
    });
    assert.equal(await prefill.exited, null, 'killed by a signal');
    const got = await answer;
    assert.equal(got.text, expected.text, 'the decode worker prefilled locally: same greedy text');
    assert.equal(got.completionTokens, expected.completionTokens);
    const decodeMetrics = await decode.metrics();
    assert.equal(
      metricValue(decodeMetrics, 'dynamo_component_kv_transfer_fallbacks_total'),
      1,
      'the partial destination was discarded and the prompt prefilled locally',
    );
    assert.equal(
      metricValue(decodeMetrics, 'dynamo_component_kv_transfer_pulls_total', { transport: 'push' }),
      0,
    );
    await assertNoBlocksTaken([decode]);
  });
});
