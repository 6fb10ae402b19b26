/**
 * Lab 3.2: KV events, worker → NATS → router. Two mocker workers with tiny KV caches (12 blocks) publish
 * every cache change to NATS; `dhw events tail` prints them as JSON lines; a router built here consumes the
 * same durable stream into its radix index and routes a prompt to the worker that holds its prefix, with the
 * cost arithmetic in its decision line. Then eviction (`removed` events), a router restart that rebuilds
 * the same index by replaying the stream, and a late router that starts from "new" events only, detects the
 * gap and asks the worker for a snapshot. Like a read replica built from a primary's change stream (CDC).
 *
 * @expect /\{"publisher_id":"[0-9a-f]+","sequence":\d+,.*"topic":"kv-events".*"type":"stored"/
 * @expect /stored 3 blocks, parentHash null/
 * @expect /parentHash = the previous event's last blockHash: true/
 * @expect /route requestId=lab-3-2-route policy=kv chosen=[0-9a-f]+ .*overlap=3/
 * @expect /"type":"removed"/
 * @expect /replayed \d+ events in [\d.]+ ms: the same index \(\d+ blocks, overlaps equal: true\)/
 * @expect /gap detected .*snapshot/
 * @expect Lab complete.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { DEFAULT_SAMPLING, type EngineRequest } from '../../../src/protocols/engine.ts';
import { asRequestId, asWorkerId, type WorkerId } from '../../../src/protocols/ids.ts';
import type { KvSnapshot } from '../../../src/protocols/router.ts';
import { createRouter, type Router } from '../../../src/router/index.ts';
import { createEventBus, type EventBus } from '../../../src/runtime/events/index.ts';
import { type EtcdServer, type NatsServer, startEtcd, startNats } from '../../../src/infra/local-servers.ts';
import { TcpRequestPlane } from '../../../src/runtime/request-plane/index.ts';
import { repoRoot } from '../../../src/util/paths.ts';
import { banner, note, printTable, runLab, step } from '../../lib/lab-kit.ts';
import { LogCapture, shorten } from '../../lib/log-capture.ts';
import { spawnWorker, type WorkerProcess, workerCommandLine } from '../../lib/worker-process.ts';

const SCOPE = { namespace: 'dynamo', component: 'backend' };
const BLOCK = 16;
const KV_BLOCKS = 12;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** `n` distinct-looking token ids starting at `from`: prompts that share a prefix share these ids. */
const tokens = (from: number, n: number) => Array.from({ length: n }, (_, i) => 100 + ((from + i) % 1800));

let requestSeq = 0;
function request(prompt: number[]): EngineRequest {
  return {
    requestId: asRequestId(`lab-3-2-${++requestSeq}`),
    promptTokenIds: prompt,
    sampling: { ...DEFAULT_SAMPLING, temperature: 0 },
    stopping: { maxTokens: 1, stopTokenIds: [], ignoreEos: true },
  };
}

async function send(plane: TcpRequestPlane, worker: WorkerProcess, prompt: number[]): Promise<void> {
  for await (const _ of plane.call(worker.address, 'generate', request(prompt))) {
    // one token; the KV events are what we are after
  }
}

/** `dhw events tail` as a child process; its stdout lines, with the token-id arrays elided. */
class EventsTail {
  readonly lines: string[] = [];
  private readonly child: ChildProcess;
  private printedUpTo = 0;

  constructor(nats: NatsServer) {
    const args = ['events', 'tail', '--nats-server', nats.url, '--topic', 'kv-events', '--from-start'];
    note(`$ dhw ${args.join(' ')} &`);
    this.child = spawn(process.execPath, [join(repoRoot, 'bin', 'dhw.mjs'), ...args], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let buffer = '';
    this.child.stdout!.on('data', (chunk: Buffer) => {
      buffer += chunk.toString('utf8');
      const lines = buffer.split('\n');
      buffer = lines.pop() ?? '';
      this.lines.push(...lines.filter(Boolean));
    });
  }

  /** Wait until the tail printed `count` lines in all, then print the new ones. */
  async showUntil(count: number, timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.lines.length < count && Date.now() < deadline) await sleep(20);
    for (const line of this.lines.slice(this.printedUpTo)) {
      note(`  ${shorten(line.replace(/"tokenIds":\[[\d,]+\]/g, '"tokenIds":[…16 ids]'), 330)}`);
    }
    this.printedUpTo = this.lines.length;
  }

  stop(): Promise<void> {
    if (this.child.exitCode !== null) return Promise.resolve();
    return new Promise((resolve) => {
      this.child.once('exit', () => resolve());
      this.child.kill('SIGTERM');
    });
  }
}

/** A router whose index is fed from the durable KV-event stream, starting at `from`. */
async function routerFromStream(
  bus: EventBus,
  workers: WorkerProcess[],
  from: 'start' | 'new',
  requestSnapshot?: (router: Router, workerId: WorkerId) => void,
): Promise<{ router: Router; received: () => number; stop: () => Promise<void> }> {
  let router!: Router;
  router = await createRouter({
    router: 'kv',
    decisionLog: 'info',
    blockSize: BLOCK,
    requestSnapshot: (workerId) => requestSnapshot?.(router, workerId),
  });
  for (const w of workers)
    router.addWorker({ workerId: asWorkerId(w.instanceId), blockSize: BLOCK, totalBlocks: KV_BLOCKS });
  let received = 0;
  const sub = await bus.consumeKvEvents(SCOPE, from, ({ envelope }) => {
    received++;
    router.applyKvEvent(envelope.payload.workerId, envelope.payload.event);
  });
  return { router, received: () => received, stop: () => sub.unsubscribe() };
}

/** Overlap (cached leading blocks) per worker for each probe prompt, as one comparable string. */
function overlaps(router: Router, probes: number[][]): string {
  return probes
    .map((p, i) =>
      router
        .inspect({ requestId: `probe-${i}`, tokenIds: p })
        .map((v) => `${v.overlapBlocks}`)
        .join('/'),
    )
    .join(' ');
}

async function untilTrue(check: () => boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check() && Date.now() < deadline) await sleep(10);
}

/** Waits until a counter has stopped moving for `quietMs` (every event in flight delivered), or the timeout. */
async function untilQuiet(count: () => number, quietMs = 300, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = count();
  let since = Date.now();
  while (Date.now() < deadline && Date.now() - since < quietMs) {
    await sleep(10);
    if (count() !== last) [last, since] = [count(), Date.now()];
  }
}

async function main(): Promise<void> {
  banner('3.2', "KV events: worker → NATS → the router's index");
  const logs = new LogCapture('info');
  const servers: { etcd?: EtcdServer; nats?: NatsServer } = {};
  const workers: WorkerProcess[] = [];
  const plane = new TcpRequestPlane();
  let tail: EventsTail | undefined;
  let bus: EventBus | undefined;
  try {
    step(`Start etcd, NATS and two mocker workers with ${KV_BLOCKS}-block KV caches`);
    [servers.etcd, servers.nats] = await Promise.all([startEtcd(), startNats()]);
    const args = [
      '--engine',
      'mocker',
      '--speedup-ratio',
      '0',
      '--num-kv-blocks',
      String(KV_BLOCKS),
      '--block-size',
      String(BLOCK),
      '--discovery',
      'etcd',
      '--etcd-endpoints',
      servers.etcd.endpoint,
      '--events',
      'nats',
      '--nats-server',
      servers.nats.url,
      '--canary-interval',
      '0',
      '--log-level',
      'warn',
    ];
    note(`$ ${workerCommandLine(args)} &   (twice)`);
    workers.push(...(await Promise.all([spawnWorker(args), spawnWorker(args)])));
    const [w1, w2] = workers as [WorkerProcess, WorkerProcess];
    note(
      `w1 = ${w1.instanceId}, w2 = ${w2.instanceId}; their KV events go to JetStream stream DYN_dynamo_backend_KV`,
    );
    tail = new EventsTail(servers.nats);
    bus = await createEventBus({ backend: 'nats', natsServer: servers.nats.url, publisherId: 'lab-router' });
    const live = await routerFromStream(bus, workers, 'start');

    step('A 48-token prompt on w1: its 3 full blocks enter the prefix cache → one `stored` event');
    const prompt = tokens(0, 48);
    await send(plane, w1, prompt);
    await tail.showUntil(1);
    const first = JSON.parse(tail.lines[0]!) as {
      payload: { event: { data: { parentHash: string | null; blocks: { blockHash: string }[] } } };
    };
    note(
      `stored ${first.payload.event.data.blocks.length} blocks, parentHash ${first.payload.event.data.parentHash}`,
    );

    step('The same prompt + 16 more tokens: only the new block is stored, chained to its parent');
    await send(plane, w1, [...prompt, ...tokens(5000, 16)]);
    await tail.showUntil(2);
    const second = JSON.parse(tail.lines[1]!) as { payload: { event: { data: { parentHash: string } } } };
    note(
      `parentHash = the previous event's last blockHash: ${second.payload.event.data.parentHash === first.payload.event.data.blocks.at(-1)!.blockHash}`,
    );

    step("The router's index, built from those events, and one routing decision with its cost arithmetic");
    await untilTrue(() => live.received() >= 2);
    note(`index: ${JSON.stringify(live.router.indexer.stats())}`);
    const from = logs.mark();
    live.router.route({ requestId: 'lab-3-2-route', tokenIds: [...prompt, ...tokens(9000, 20)] });
    // Only the decision is wanted: the request is never sent. Tell the router it ended without computing
    // anything, or its blocks would count as in flight on w1 (the router's predicted-block overlay).
    live.router.finishRequest('lab-3-2-route', 'failed');
    note(shorten(logs.grep(/\[router\] route /, from)[0] ?? 'no decision line', 400));
    note(
      `w2 would prefill all 68 tokens (68/16 = 4.25 blocks); w1 has 3 blocks cached, so only 20 tokens: cost 1.25 + new blocks`,
    );

    step(
      `Fill w1's ${KV_BLOCKS}-block cache with other prompts: the oldest blocks are evicted → \`removed\` events`,
    );
    for (let i = 1; i <= 3; i++) await send(plane, w1, tokens(i * 200, 64));
    await untilTrue(() => tail!.lines.some((l) => l.includes('"removed"')));
    await sleep(200); // let the last stores of that request reach the tail and the router
    await tail.showUntil(tail.lines.length);
    await untilTrue(() => live.received() >= tail!.lines.length);
    note(`index now: ${JSON.stringify(live.router.indexer.stats())}`);
    note('then prompt 0 once more, on w2 this time: it is cached there now (w1 evicted it)');
    await send(plane, w2, prompt);
    await untilTrue(() => live.received() >= tail!.lines.length + 1);

    step(
      'Router restart: a new router replays the durable stream from the start and rebuilds the same index',
    );
    const probes = [prompt, tokens(200, 64), tokens(400, 64), tokens(600, 64)];
    await untilQuiet(live.received); // the live index has every event the stream holds before we compare
    const before = overlaps(live.router, probes);
    const beforeBlocks = live.router.indexer.stats().blocks;
    await live.stop();
    const restarted = performance.now();
    const replay = await routerFromStream(bus, workers, 'start');
    await untilTrue(() => replay.received() >= live.received());
    const replayMs = performance.now() - restarted;
    const after = overlaps(replay.router, probes);
    note(
      `replayed ${replay.received()} events in ${replayMs.toFixed(1)} ms: the same index (${replay.router.indexer.stats().blocks} blocks, ` +
        `overlaps equal: ${before === after && beforeBlocks === replay.router.indexer.stats().blocks})`,
    );
    printTable(
      ['probe', 'overlap w1/w2 before', 'after replay'],
      probes.map((_, i) => [`prompt ${i}`, before.split(' ')[i]!, after.split(' ')[i]!]),
    );
    await replay.stop();

    step('A router that starts late (only new events): the first event id it sees is not 1 → gap → snapshot');
    const late = await routerFromStream(bus, workers, 'new', (router, workerId) => {
      const w = workers.find((x) => x.instanceId === workerId)!;
      note(`gap detected on ${workerId}: asking it for a kv_snapshot over the request plane`);
      void (async () => {
        for await (const chunk of plane.call(w.address, 'kv_snapshot', { workerId }))
          router.applySnapshot(chunk as KvSnapshot);
      })();
    });
    await send(plane, w1, tokens(7000, 32));
    await untilTrue(() => late.router.indexer.stats().snapshotsApplied >= 1);
    await sleep(50);
    note(`late router's index: ${JSON.stringify(late.router.indexer.stats())}`);
    note(
      "(w2 has published nothing since: the late router learns its cache at w2's next event, the same way)",
    );
    await late.stop();
  } finally {
    await tail?.stop();
    await bus?.close();
    await plane.close();
    await Promise.all(workers.map((w) => w.stop()));
    await Promise.all([servers.etcd?.stop(), servers.nats?.stop()]);
  }
}

runLab(
  main,
  'etcd/NATS missing? sudo apt-get install -y etcd-server etcd-client nats-server. Then: npm run lab -- 3.2 --smoke',
);
