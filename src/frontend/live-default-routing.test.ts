/**
 * The default policy live: etcd + nats-server on free ports, two `dhw worker --engine mocker` processes, a
 * frontend started with no `--router` at all. What a new user gets without choosing:
 *   - the workers publish their step-time model in their model cards (the mocker's data sheet, scaled by
 *     its speedup ratio), as the replay's simulated workers do;
 *   - the router is `kv-delay` (predicted delay) and logs each prediction as arithmetic;
 *   - independent long prompts sent at once spread over both workers (each one in flight makes its worker's
 *     predicted wait and stall larger for the next);
 *   - a repeated long prompt goes back to the worker that holds it, and is served from its cache.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { type EtcdServer, type NatsServer, startEtcd, startNats } from '../infra/local-servers.ts';
import { startAll } from '../infra/testing/lifecycle-kit.ts';
import { isModelCard } from '../protocols/discovery.ts';
import { MOCKER_STEP_TIMING, scaleStepTiming } from '../protocols/step-timing.ts';
import { DEFAULT_ROUTER_POLICY } from '../router/index.ts';
import { createDiscovery } from '../runtime/discovery/index.ts';
import { modelCardsPrefix } from '../runtime/names.ts';
import { configureLogging } from '../util/logger.ts';
import type { FrontendHandle } from './frontend.ts';
import {
  freshNamespace,
  metricValue,
  quietLogs,
  spawnWorker,
  startTestFrontend,
  type WorkerProcess,
} from './testing/frontend-kit.ts';

const SPEEDUP = 2;

let etcd: EtcdServer;
let nats: NatsServer;
let namespace: string;
let workers: WorkerProcess[] = [];
let frontend: FrontendHandle;
/** The frontend's routing decisions (JSON log lines, msg "route"). */
const decisions: RouteLine[] = [];

interface RouteLine {
  msg: string;
  policy: string;
  chosen: string;
  reason: string;
  overlap: number;
  workers: string[];
}

before(async () => {
  configureLogging({
    level: 'info',
    format: 'json',
    write: (line) => {
      const parsed = JSON.parse(line) as RouteLine;
      if (parsed.msg === 'route') decisions.push(parsed);
    },
  });
  [etcd, nats] = await Promise.all([startEtcd(), startNats()]);
  namespace = freshNamespace();
  const env = { ETCD_ENDPOINTS: etcd.endpoint, NATS_SERVER: nats.url };
  const args = [
    ...['--engine', 'mocker', '--speedup-ratio', String(SPEEDUP)],
    ...['--discovery', 'etcd', '--events', 'nats', '--namespace', namespace],
  ];
  workers = await startAll([spawnWorker(args, env), spawnWorker(args, env)]);
  frontend = await startTestFrontend(
    {
      namespace,
      discovery: { backend: 'etcd', etcdEndpoints: etcd.endpoint },
      events: { backend: 'nats', natsServer: nats.url },
      router: { decisionLog: 'info' }, // no policy named: the default
    },
    2,
  );
});
after(async () => {
  quietLogs();
  await frontend?.close();
  await Promise.all(workers.map((w) => w.stop()));
  await Promise.all([etcd?.stop(), nats?.stop()]);
});

/** Generate calls each worker has served so far (its own /metrics). */
async function servedPerWorker(): Promise<number[]> {
  return Promise.all(
    workers.map(async (w) => metricValue(await w.metrics(), 'dynamo_component_requests_total')),
  );
}

/** About 700 tokens that start with `topic`, so no two topics share a first block. */
function longPrompt(topic: string): string {
  const sentence = `${topic}: you are a careful assistant; answer briefly, cite the manual, never guess. `;
  return sentence.repeat(Math.ceil(2300 / sentence.length));
}

interface Usage {
  prompt_tokens: number;
  prompt_tokens_details?: { cached_tokens?: number };
}

async function ask(system: string, question: string, maxTokens: number): Promise<Usage> {
  const res = await fetch(`${frontend.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      model: 'fortune-llama',
      messages: [
        { role: 'system', content: system },
        { role: 'user', content: question },
      ],
      max_tokens: maxTokens,
      ignore_eos: true,
    }),
  });
  assert.equal(res.status, 200, await res.clone().text());
  return ((await res.json()) as { usage: Usage }).usage;
}

test('mocker workers publish their step-time model in their model cards', async () => {
  const discovery = await createDiscovery({ backend: 'etcd', etcdEndpoints: etcd.endpoint });
  try {
    const cards = (await discovery.list(modelCardsPrefix({ namespace }))).map((kv) => kv.value);
    assert.equal(cards.length, 2);
    for (const card of cards) {
      assert.ok(isModelCard(card), JSON.stringify(card));
      assert.deepEqual(card.stepTiming, scaleStepTiming(MOCKER_STEP_TIMING, SPEEDUP));
    }
  } finally {
    await discovery.close();
  }
});

test('independent long prompts at once spread over the workers (default policy)', async () => {
  const before = await servedPerWorker();
  const seen = decisions.length;
  const topics = [
    'Harbour tides',
    'Alpine passes',
    'Desert wells',
    'River locks',
    'Forest trails',
    'City bikes',
  ];
  const usages = await Promise.all(topics.map((t) => ask(longPrompt(t), 'Where do I start?', 24)));
  const served = (await servedPerWorker()).map((n, i) => n - before[i]!);
  for (const u of usages) assert.ok(u.prompt_tokens >= 600, `prompt of ${u.prompt_tokens} tokens`);
  assert.equal(DEFAULT_ROUTER_POLICY, 'kv-delay');
  const mine = decisions.slice(seen);
  assert.equal(mine.length, topics.length);
  for (const d of mine) {
    assert.equal(d.policy, DEFAULT_ROUTER_POLICY);
    // The prediction as arithmetic: "(0q + 704u)/48.39 = 14.55ms ttft + 1*704u/48.39 = 14.55ms stall = ...".
    for (const w of d.workers)
      assert.match(w, /cost \(\d+q \+ \d+u\)\/[\d.]+ = [\d.]+ms ttft \+ \d+\*\d+u\//);
  }
  assert.ok(
    served.every((n) => n >= 2),
    `both workers serve independent load (served: ${served}); decisions ${JSON.stringify(mine.map((d) => d.chosen))}`,
  );
});

test('a repeated long prompt goes back to the worker that holds it, and hits its cache', async () => {
  for (const topic of ['Ferry crossings', 'Mountain huts']) {
    const system = longPrompt(topic);
    const before = await servedPerWorker();
    const first = await ask(system, 'Which one is first?', 8);
    const again = await ask(system, 'And which one is last?', 8);
    const served = (await servedPerWorker()).map((n, i) => n - before[i]!);
    assert.deepEqual([...served].sort(), [0, 2], `${topic}: both on one worker (served: ${served})`);
    const cached = again.prompt_tokens_details?.cached_tokens ?? 0;
    assert.ok(
      cached >= first.prompt_tokens - 64,
      `${topic}: the repeat's cached_tokens = ${cached} of ${again.prompt_tokens}`,
    );
    const decision = decisions.at(-1)!;
    assert.ok(decision.overlap >= 36, `${topic}: the repeat's decision saw ${decision.overlap} blocks`);
  }
});
