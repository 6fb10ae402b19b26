/**
 * Lab 3.1: register and discover. Worker → etcd: two `dhw worker` processes register under leases; a
 * background `etcdctl watch` and a frontend (ModelWatcher over etcd) see them arrive. Frontend → etcd: the
 * model appears with its first worker and disappears with its last. Then failure detection, measured:
 * `kill -9` one worker (its keys vanish only when the lease TTL runs out; meanwhile the frontend quarantines
 * it and retries elsewhere) and SIGTERM the other (keys gone in milliseconds, the model with them). Like
 * Consul service registration with TTL health checks, watched by an nginx that rewrites its upstreams.
 *
 * @expect /before any worker: GET \/v1\/models → \{"object":"list","data":\[\]\}/
 * @expect /POST \/v1\/chat\/completions → 503 .*no workers available/
 * @expect /\[watch \+[\d.]+ s\] \/dynamo\/v1\/instances\/dynamo\/backend\/generate\/[0-9a-f]+/
 * @expect /model "fortune-llama" appeared with its first worker/
 * @expect /requests per worker \(round-robin\): [0-9a-f]+=\d+, [0-9a-f]+=\d+/
 * @expect /kill -9 → etcd DELETE after [\d.]+ s \(TTL \d+ s\)/
 * @expect /during the TTL window: \d+ requests sent, \d+ answered 200/
 * @expect /SIGTERM → DELETE after [\d.]+ ms/
 * @expect /model "fortune-llama" disappeared with its last worker/
 * @expect Lab complete.
 */
import { performance } from 'node:perf_hooks';
import { type FrontendHandle, startFrontend } from '../../../src/frontend/index.ts';
import { instanceKey } from '../../../src/runtime/names.ts';
import { type EtcdServer, startEtcd } from '../../../src/infra/local-servers.ts';
import { argValue, banner, isSmoke, note, printTable, runLab, step } from '../../lib/lab-kit.ts';
import { Etcdctl } from '../../lib/etcdctl.ts';
import { WatchLog } from '../../lib/watch-log.ts';
import { LogCapture, shorten } from '../../lib/log-capture.ts';
import { spawnWorker, type WorkerProcess, workerCommandLine } from '../../lib/worker-process.ts';

const TTL_SECONDS = Number(argValue('ttl') ?? (isSmoke() ? 2 : 5));
const ENDPOINT = { namespace: 'dynamo', component: 'backend', endpoint: 'generate' };
const CHAT = { messages: [{ role: 'user', content: 'Tell me a fortune.' }], max_tokens: 4 };
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** What we measured, printed as one table at the end. */
const timeline: [string, string][] = [];

async function until(check: () => boolean, what: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(5);
  }
}

async function chat(url: string): Promise<{ status: number; text: string }> {
  const res = await fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(CHAT),
  });
  return { status: res.status, text: await res.text() };
}

async function models(url: string): Promise<string> {
  return (await (await fetch(`${url}/v1/models`)).text()).trim();
}

function workerArgs(etcd: EtcdServer): string[] {
  return [
    '--engine',
    'mocker',
    '--speedup-ratio',
    '0',
    '--discovery',
    'etcd',
    '--etcd-endpoints',
    etcd.endpoint,
    '--lease-ttl',
    String(TTL_SECONDS),
    '--events',
    'memory',
    '--canary-interval',
    '0',
    '--log-level',
    'warn',
  ];
}

async function registerFirstWorker(
  etcd: EtcdServer,
  log: WatchLog,
  frontend: FrontendHandle,
): Promise<WorkerProcess> {
  const args = workerArgs(etcd);
  note(`$ ${workerCommandLine(args)} &`);
  const spawned = performance.now();
  const worker = await spawnWorker(args);
  const key = instanceKey(ENDPOINT, worker.instanceId);
  const put = await log.waitFor('PUT', key, 5000);
  await until(() => frontend.models.instances().length === 1, 'the frontend to see the worker', 5000);
  const seen = performance.now();
  note(worker.readyLine);
  timeline.push([
    'worker A: spawn → serving line',
    `${(worker.startMs / 1000).toFixed(2)} s (node start, engine, lease, keys)`,
  ]);
  timeline.push([
    'worker A: spawn → PUT seen by etcdctl watch',
    `${((put.at - spawned) / 1000).toFixed(2)} s`,
  ]);
  timeline.push(['worker A: PUT → routable in the frontend', `${(seen - put.at).toFixed(1)} ms`]);
  note(
    `model "${frontend.models.list()[0]?.name}" appeared with its first worker: GET /v1/models → ${shorten(await models(frontend.url), 120)}`,
  );
  const reply = await chat(frontend.url);
  note(`POST /v1/chat/completions → ${reply.status}`);
  return worker;
}

async function routeAcrossTwo(frontend: FrontendHandle, logs: LogCapture, count: number): Promise<void> {
  const from = logs.mark();
  for (let i = 0; i < count; i++) await chat(frontend.url);
  const perWorker = new Map<string, number>();
  for (const line of logs.grep(/\[frontend\] routed /, from)) {
    const id = /workerId=([0-9a-f]+)/.exec(line)?.[1] ?? '?';
    perWorker.set(id, (perWorker.get(id) ?? 0) + 1);
  }
  note(`requests per worker (round-robin): ${[...perWorker].map(([id, n]) => `${id}=${n}`).join(', ')}`);
}

/** kill -9 one worker; keep sending requests until etcd deletes its key. */
async function crash(
  worker: WorkerProcess,
  log: WatchLog,
  frontend: FrontendHandle,
  logs: LogCapture,
): Promise<void> {
  const key = instanceKey(ENDPOINT, worker.instanceId);
  const from = logs.mark();
  note(`$ kill -9 ${worker.pid}`);
  const killedAt = performance.now();
  worker.kill9();
  let sent = 0;
  let ok = 0;
  let deleted = false;
  const deletion = log.waitFor('DELETE', key, TTL_SECONDS * 1000 + 5000).then((event) => {
    deleted = true;
    return event;
  });
  while (!deleted) {
    sent++;
    if ((await chat(frontend.url)).status === 200) ok++;
    await sleep(100);
  }
  const event = await deletion;
  await until(() => frontend.models.instances().length === 1, 'the frontend to drop the dead worker', 5000);
  const dropped = performance.now();
  const expiry = (event.at - killedAt) / 1000;
  note(
    `kill -9 → etcd DELETE after ${expiry.toFixed(2)} s (TTL ${TTL_SECONDS} s): nobody told etcd; the lease simply ran out`,
  );
  note(
    `during the TTL window: ${sent} requests sent, ${ok} answered 200 (the frontend still listed the dead worker)`,
  );
  for (const line of logs.grep(/worker unreachable/, from).slice(0, 2)) note(`  ${shorten(line, 220)}`);
  note('(a refused connection quarantines the worker for 5 s and the request is retried on another one)');
  timeline.push(['kill -9 → DELETE seen by the watch', `${expiry.toFixed(2)} s with TTL ${TTL_SECONDS} s`]);
  timeline.push(['kill -9 → frontend drops the worker', `${((dropped - killedAt) / 1000).toFixed(2)} s`]);
  timeline.push(['requests during that window', `${ok} of ${sent} answered 200`]);
}

async function gracefulStop(worker: WorkerProcess, log: WatchLog, frontend: FrontendHandle): Promise<void> {
  const key = instanceKey(ENDPOINT, worker.instanceId);
  note(`$ kill -TERM ${worker.pid}`);
  const start = performance.now();
  const exit = worker.stop();
  const event = await log.waitFor('DELETE', key, 5000);
  await until(() => frontend.models.list().length === 0, 'the model to disappear', 5000);
  const gone = performance.now();
  const { code } = await exit;
  note(`SIGTERM → DELETE after ${(event.at - start).toFixed(1)} ms (lease revoked), exit code ${code}`);
  note(
    `model "fortune-llama" disappeared with its last worker: GET /v1/models → ${await models(frontend.url)}`,
  );
  const reply = await chat(frontend.url);
  note(`POST /v1/chat/completions → ${reply.status} ${shorten(reply.text.trim(), 150)}`);
  timeline.push(['SIGTERM → DELETE seen by the watch', `${(event.at - start).toFixed(1)} ms`]);
  timeline.push(['SIGTERM → model gone from /v1/models', `${(gone - start).toFixed(1)} ms`]);
}

async function main(): Promise<void> {
  banner('3.1', 'Register and discover: worker → etcd → frontend');
  const logs = new LogCapture('debug');
  const workers: WorkerProcess[] = [];
  let frontend: FrontendHandle | undefined;
  let watch: { stop(): Promise<void> } | undefined;

  step('Start a private etcd and watch /dynamo/ in the background');
  const etcd = await startEtcd();
  try {
    const etcdctl = new Etcdctl(etcd.endpoint);
    const log = new WatchLog(performance.now());
    // From the next revision on: a watch process that starts slowly still gets every later write, replayed.
    watch = etcdctl.watch('/dynamo/', (line) => (line.startsWith('{') ? undefined : log.onLine(line)), {
      fromRevision: etcdctl.currentRevision() + 1,
    });
    await sleep(300); // let the watch connect, so the arrival times below are delivery latencies

    step('Start a frontend that discovers workers through etcd (no workers yet)');
    frontend = await startFrontend({
      discovery: { backend: 'etcd', etcdEndpoints: etcd.endpoint },
      events: { backend: 'memory' },
      router: { router: 'round-robin' },
      host: '127.0.0.1',
      port: 0,
      drainTimeoutMs: 1000,
    });
    note(`frontend ${frontend.url} watching /dynamo/v1/instances/dynamo/ and /dynamo/v1/mdc/dynamo/`);
    note(`before any worker: GET /v1/models → ${await models(frontend.url)}`);
    const reply = await chat(frontend.url);
    note(`POST /v1/chat/completions → ${reply.status} ${shorten(reply.text.trim(), 160)}`);

    step(`Worker A registers (lease TTL ${TTL_SECONDS} s): etcd → watch → frontend`);
    workers.push(await registerFirstWorker(etcd, log, frontend));

    step('Worker B registers: the frontend now balances over two');
    const args = workerArgs(etcd);
    note(`$ ${workerCommandLine(args)} &`);
    workers.push(await spawnWorker(args));
    await until(() => frontend!.models.instances().length === 2, 'the second worker', 5000);
    etcdctl.run(['get', '--prefix', '/dynamo/v1/instances/', '--keys-only']);
    await routeAcrossTwo(frontend, logs, 4);

    step('Worker A crashes (kill -9): nothing unregisters it, the lease TTL does');
    await crash(workers[0]!, log, frontend, logs);

    step('Worker B shuts down gracefully (SIGTERM): it unregisters itself');
    await gracefulStop(workers[1]!, log, frontend);

    step('Measured');
    printTable(['what', 'measured'], timeline);
  } finally {
    await frontend?.close();
    await Promise.all(workers.map((w) => w.stop()));
    await watch?.stop();
    await etcd.stop();
  }
}

runLab(
  main,
  'etcd missing? sudo apt-get install -y etcd-server etcd-client. Then: npm run lab -- 3.1 --smoke',
);
