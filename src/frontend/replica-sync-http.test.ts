/**
 * Router replica sync with everything real: etcd + nats-server on free ports, four `dhw worker --engine
 * mocker` processes, and two HTTP frontends (router `kv`, replica sync on: its default with NATS) in front
 * of them. Clients alternate between the frontends, as behind a load balancer. Each frontend learns the
 * other's requests from `active_sequences_events`, so both hold the same view of what is in flight where
 * and decide as one router would:
 *   - a burst split between them spreads over the workers (1, then 2 streams each), where two routers
 *     that knew only their own requests would each start from "all idle" and could double up;
 *   - a prompt sharing a long system prompt with a stream the other frontend just routed goes to that
 *     stream's worker;
 *   - when the streams end, both views empty.
 * The workers' own `dynamo_component_inflight_requests` gauges are the ground truth for where requests are.
 * (`replica-sync.test.ts` checks the same with routers alone; `replica-sync-trace.test.ts` on a trace.)
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { isDeepStrictEqual } from 'node:util';
import { type EtcdServer, type NatsServer, startEtcd, startNats } from '../infra/local-servers.ts';
import { startAll } from '../infra/testing/lifecycle-kit.ts';
import type { WorkerId } from '../protocols/ids.ts';
import type { Router } from '../router/index.ts';
import type { FrontendHandle } from './frontend.ts';
import {
  eventually,
  freshNamespace,
  metricValue,
  quietLogs,
  spawnWorker,
  startTestFrontend,
  type WorkerProcess,
} from './testing/frontend-kit.ts';

quietLogs();

let etcd: EtcdServer;
let nats: NatsServer;
let workers: WorkerProcess[] = [];
let frontends: FrontendHandle[] = [];

before(async () => {
  [etcd, nats] = await Promise.all([startEtcd(), startNats()]);
  const namespace = freshNamespace();
  const env = { ETCD_ENDPOINTS: etcd.endpoint, NATS_SERVER: nats.url };
  // 1/20 of the fitted GPU's pace: a 600-token answer takes over a minute, in flight for the whole file.
  const args = ['--engine', 'mocker', '--speedup-ratio', '0.05', '--discovery', 'etcd', '--events', 'nats'];
  args.push('--namespace', namespace);
  workers = await startAll([1, 2, 3, 4].map(() => spawnWorker(args, env)));
  const options = {
    namespace,
    discovery: { backend: 'etcd' as const, etcdEndpoints: etcd.endpoint },
    events: { backend: 'nats' as const, natsServer: nats.url },
    router: { router: 'kv' },
  };
  frontends = await startAll([startTestFrontend(options, 4), startTestFrontend(options, 4)]);
});

after(async () => {
  for (const f of frontends) await f.close();
  await Promise.all(workers.map((w) => w.stop()));
  await Promise.all([etcd?.stop(), nats?.stop()]);
});

function routerOf(frontend: FrontendHandle): Router {
  const deployment = frontend.models.list()[0];
  assert.ok(deployment, 'the frontend serves the model');
  return deployment.router;
}

/** Requests in flight per worker, as one frontend's router counts them (its own and its peers'). */
function viewOf(frontend: FrontendHandle): Map<WorkerId, number> {
  const router = routerOf(frontend);
  return new Map(router.workers.map((w) => [w.workerId, router.active.counts(w.workerId).requests]));
}

const total = (view: Map<WorkerId, number>) => [...view.values()].reduce((a, b) => a + b, 0);

/** What the workers themselves say is in flight, in `workers` order. */
async function inflightOnWorkers(): Promise<number[]> {
  return Promise.all(
    workers.map(async (w) => metricValue(await w.metrics(), 'dynamo_component_inflight_requests')),
  );
}

/**
 * Wait until the workers' gauges read `expected`: a worker counts a request once it arrives over the
 * request plane, after the routers counted it (`bothSee`), so asserting at once races that hop.
 */
async function workersReach(expected: number[], what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  let seen = await inflightOnWorkers();
  while (!isDeepStrictEqual(seen, expected) && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    seen = await inflightOnWorkers();
  }
  assert.deepEqual(seen, expected, what);
}

interface OpenRequest {
  close(): Promise<void>;
}

/**
 * A streamed completion left running: it decodes on its worker for over a minute (the mocker at 1/20 of its
 * pace) until `close` (the client hangs up; the frontend frees it, and tells its peers). Callers wait for
 * the routers to count it (`bothSee`), not for its first bytes.
 */
function startRequest(frontend: FrontendHandle, prompt: string): OpenRequest {
  const abort = new AbortController();
  const finished = fetch(`${frontend.url}/v1/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      model: 'fortune-llama',
      prompt,
      max_tokens: 600, // fortune-llama's context is 1,024 tokens
      ignore_eos: true,
      stream: true,
    }),
    signal: abort.signal,
  }).then(
    async (res) => {
      assert.equal(res.status, 200, await res.clone().text());
      await res.body?.cancel();
    },
    (error: Error) => assert.equal(error.name, 'AbortError', `request failed: ${error.message}`),
  );
  return {
    close: async () => {
      abort.abort();
      await finished.catch(() => {});
    },
  };
}

/** Both frontends count `n` requests in flight: each has applied the other's steps. */
async function bothSee(n: number): Promise<void> {
  await eventually(
    () => frontends.every((f) => total(viewOf(f)) === n),
    `both frontends counting ${n} requests in flight (now ${frontends.map((f) => total(viewOf(f)))})`,
  );
}

/** A prompt of about 200 tokens that shares nothing with the others. */
function distinctPrompt(i: number): string {
  const sentence = `Request ${i} of the burst asks about item ${i * 7919} in catalogue ${i * 104729}. `;
  return sentence.repeat(Math.ceil(450 / sentence.length));
}

const streams: OpenRequest[] = [];

test('a burst alternating between two frontends spreads over the workers as one router would', async () => {
  for (let i = 0; i < 8; i++) {
    streams.push(startRequest(frontends[i % 2]!, distinctPrompt(i)));
    await bothSee(i + 1);
    const [a, b] = frontends.map(viewOf);
    assert.deepEqual([...a!].sort(), [...b!].sort(), `after ${i + 1} requests both views agree`);
    if (i === 3) {
      // Each frontend sent 2: with its peer's in the cost, every pick went to a worker with nothing yet.
      await workersReach([1, 1, 1, 1], 'four requests, one per worker');
    }
  }
  await workersReach([2, 2, 2, 2], 'eight requests, two per worker');
});

test("a prompt sharing a system prompt with the other frontend's stream goes to that stream's worker", async () => {
  const system = 'You answer questions about the tidal atlas, citing page and table numbers. '.repeat(14);
  const before = await inflightOnWorkers();
  streams.push(startRequest(frontends[0]!, `${system}\nWhen is high water at the pier?`));
  await bothSee(9);
  const home = (await inflightOnWorkers()).findIndex((n, i) => n === before[i]! + 1);
  assert.ok(home >= 0, 'the first stream is on one worker');
  streams.push(startRequest(frontends[1]!, `${system}\nAnd low water at the lock?`));
  await bothSee(10);
  const after = await inflightOnWorkers();
  assert.deepEqual(
    after.map((n, i) => n - before[i]!),
    before.map((_, i) => (i === home ? 2 : 0)),
    'both streams on the same worker',
  );
});

test('when the streams end, both frontends see nothing in flight', async () => {
  await Promise.all(streams.map((s) => s.close()));
  await bothSee(0);
  const deadline = Date.now() + 10_000;
  while ((await inflightOnWorkers()).some((n) => n > 0) && Date.now() < deadline)
    await new Promise((resolve) => setTimeout(resolve, 50));
  assert.deepEqual(await inflightOnWorkers(), [0, 0, 0, 0]);
});
