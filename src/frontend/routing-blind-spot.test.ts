/**
 * The blind spot between a routing decision and the KV events that confirm it, live: etcd + nats-server
 * on free ports, two `dhw worker --engine mocker` processes, a frontend with `--router kv`. The router
 * counts the blocks it has just sent to a worker as soon-to-be-cached there (its predicted-block overlay)
 * until the worker's KV events confirm them, so a request sharing a ~400-token system prompt with one
 * routed just before sees that prefix on the first one's worker whether or not the events have arrived:
 *   - one after the other (a user sending a second message as soon as the first reply ends): same worker,
 *     and the second reports cached tokens;
 *   - both at once: the same, the second waiting for the prefix the first is computing (it does not count
 *     as a queue in front of it) rather than computing it again on the idle worker.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { type EtcdServer, type NatsServer, startEtcd, startNats } from '../infra/local-servers.ts';
import { startAll } from '../infra/testing/lifecycle-kit.ts';
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

let etcd: EtcdServer;
let nats: NatsServer;
let workers: WorkerProcess[] = [];
let frontend: FrontendHandle;
/** The frontend's routing decisions (JSON log lines, msg "route"). */
const decisions: RouteLine[] = [];

interface RouteLine {
  msg: string;
  chosen: string;
  overlap: number;
  overlapIndexed: number;
  overlapPredicted: number;
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
  const namespace = freshNamespace();
  const env = { ETCD_ENDPOINTS: etcd.endpoint, NATS_SERVER: nats.url };
  const args = ['--engine', 'mocker', '--discovery', 'etcd', '--events', 'nats', '--namespace', namespace];
  workers = await startAll([spawnWorker(args, env), spawnWorker(args, env)]);
  frontend = await startTestFrontend(
    {
      namespace,
      discovery: { backend: 'etcd', etcdEndpoints: etcd.endpoint },
      events: { backend: 'nats', natsServer: nats.url },
      router: { router: 'kv', decisionLog: 'info' },
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

/** A system prompt of about 400 tokens that no other request in this file uses. */
function systemPrompt(topic: string): string {
  const sentence = `You are a careful assistant for ${topic}; answer briefly, cite the manual, never guess. `;
  return sentence.repeat(Math.ceil(1300 / sentence.length));
}

interface Usage {
  prompt_tokens: number;
  prompt_tokens_details?: { cached_tokens?: number };
}

async function ask(system: string, question: string): Promise<Usage> {
  const res = await fetch(`${frontend.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      model: 'fortune-llama',
      messages: [
        { role: 'system', content: system },
        { role: 'user', content: question },
      ],
      max_tokens: 8,
    }),
  });
  assert.equal(res.status, 200, await res.clone().text());
  return ((await res.json()) as { usage: Usage }).usage;
}

test('back to back, one after the other: same worker, the second hits the cache', async () => {
  for (const topic of ['tax forms', 'train timetables', 'tide tables']) {
    const system = systemPrompt(topic);
    const before = await servedPerWorker();
    const u1 = await ask(system, 'Where do I start?');
    const u2 = await ask(system, 'And what comes next?');
    const served = (await servedPerWorker()).map((n, i) => n - before[i]!);
    assert.ok(u1.prompt_tokens >= 400, `prompt of ${u1.prompt_tokens} tokens`);
    assert.deepEqual(
      [...served].sort(),
      [0, 2],
      `${topic}: both on one worker (served: ${served}); decisions ${JSON.stringify(decisions.slice(-2))}`,
    );
    const cached = u2.prompt_tokens_details?.cached_tokens ?? 0;
    assert.ok(cached >= 384, `${topic}: the second request's cached_tokens = ${cached}`);
    const second = decisions.at(-1)!;
    assert.ok(second.overlap >= 24, `${topic}: the second decision saw ${second.overlap} blocks`);
    assert.equal(second.overlap, second.overlapIndexed + second.overlapPredicted);
  }
});

test("both at once: same worker, the second waits for the first one's prefix instead of computing it", async () => {
  for (const topic of ['ferry crossings', 'bus routes', 'flight delays']) {
    const system = systemPrompt(topic);
    const before = await servedPerWorker();
    const seen = decisions.length;
    const [u1, u2] = await Promise.all([
      ask(system, 'Which one is first?'),
      ask(system, 'Which one is last?'),
    ]);
    const served = (await servedPerWorker()).map((n, i) => n - before[i]!);
    assert.ok(u1.prompt_tokens >= 400 && u2.prompt_tokens >= 400);
    const [first, second] = decisions.slice(seen);
    assert.ok(first && second, 'two routing decisions logged');
    assert.deepEqual([...served].sort(), [0, 2], `${topic}: both on one worker (served: ${served})`);
    // The second decision saw the shared prefix on the first one's worker: predicted if the first one's
    // KV events had not arrived yet (the usual case: it was still prefilling), indexed if they had.
    assert.equal(second.chosen, first.chosen);
    assert.ok(second.overlap >= 24, `${topic}: the second decision saw ${second.overlap} blocks`);
    // No cached_tokens check here: when both reach the worker before its next step, the engine prefills
    // them in one batch and neither reads the other's blocks (vLLM does the same); the router's part is
    // that they are together.
  }
});
