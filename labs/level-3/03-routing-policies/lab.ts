/**
 * Lab 3.3: routing policies compared, measured. Mocker workers (the real scheduler and KV cache, Dynamo's
 * GPU timing model) registered in a real etcd and publishing KV events on a real NATS; a frontend per
 * policy (random, round-robin, kv) sends the same kind of shared-prefix workload through the OpenAI API and
 * we measure TTFT from the client. Then one kv decision line with its cost arithmetic, the big picture on
 * the public Mooncake trace (virtual-time replay), and a worker killed mid-stream: request migration and
 * the health view catching up. Like comparing nginx's `random`, `round_robin` and `hash $cookie` upstream
 * modes in front of caching backends.
 *
 * @expect /policy +requests +TTFT p50 ms +TTFT p90 ms +TTFT mean ms +prefix cached +full prefills +per worker/
 * @expect /^ +round-robin +\d+/
 * @expect /^ +kv +\d+/
 * @expect /kv vs random: mean TTFT [\d.]+× lower/
 * @expect /Chart: \S*3\.3-routing-ttft\.svg and \.png/
 * @expect /\[router\] route requestId=lab-3-3-kv-\d+ policy=kv chosen=[0-9a-f]+ .*cost/
 * @expect /Mooncake trace, first \d+ requests, \d+ simulated workers/
 * @expect /\$ dhw replay \S+ --compare [\w,-]+ --workers \d+ --max-requests \d+ --seed \d+/
 * @expect /\$ dhw trace generate --kind conversation .* --seed \d+ --out /
 * @expect /predicted: w\d+\. The home worker's overlap credit is \d+ blocks/
 * @expect /measured: the router chose w\d+/
 * @expect /^ +kv +[\d.]+ % +[\d.]+ % +\d+ % +\d+ of \d+/
 * @expect /migrating request: its worker died mid-stream/
 * @expect /the client got \d+ of \d+ tokens in one stream/
 * @expect Lab complete.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { type FrontendHandle, startFrontend } from '../../../src/frontend/index.ts';
import type { ReplayMetrics } from '../../../src/replay/index.ts';
import { type EtcdServer, type NatsServer, startEtcd, startNats } from '../../../src/infra/local-servers.ts';
import { defaultModelDir } from '../../../src/util/paths.ts';
import { mean, percentile } from '../../../src/util/stats.ts';
import { Worker } from '../../../src/worker/index.ts';
import { writeLabChart } from '../../lib/lab-chart.ts';
import { argValue, banner, isSmoke, note, printTable, runLab, step } from '../../lib/lab-kit.ts';
import { LogCapture, shorten } from '../../lib/log-capture.ts';
import { demonstrateMigration } from './migration.ts';
import {
  buildWorkload,
  type RequestResult,
  runWorkload,
  type WorkloadShape,
} from './shared-prefix-workload.ts';
import {
  explainScatter,
  generateTrace,
  replayScatter,
  type ScatterRun,
  type ScatterShape,
  scatterRows,
} from './conversation-scatter.ts';
import { MOONCAKE_TRACE, replayPolicies } from './trace-replay.ts';

const smoke = isSmoke();
const POLICIES = (argValue('policies') ?? 'random,round-robin,kv').split(',');
const WORKERS = Number(argValue('workers') ?? (smoke ? 2 : 4));
const SHAPE: WorkloadShape = smoke
  ? { groups: 3, requestsPerGroup: 4, prefixTokens: 512, suffixTokens: 16, maxTokens: 2, concurrency: 2 }
  : { groups: 6, requestsPerGroup: 8, prefixTokens: 2048, suffixTokens: 32, maxTokens: 4, concurrency: 4 };
const REPLAY_REQUESTS = Number(argValue('replay-requests') ?? (smoke ? 60 : 500));
const MIGRATION_TOKENS = smoke ? 60 : 200;
/** The router seed of every replay here: printed in the commands, so they reproduce the numbers exactly. */
const REPLAY_SEED = 1;
const SCATTER: ScatterShape = {
  sessions: Number(argValue('scatter-sessions') ?? (smoke ? 16 : 60)),
  workers: 4,
  timeScale: 0.25,
  seed: 3,
};

interface PolicyRun {
  policy: string;
  results: RequestResult[];
  perWorker: number[];
}

function startWorkers(etcd: EtcdServer, nats: NatsServer): Promise<Worker[]> {
  return Promise.all(
    Array.from({ length: WORKERS }, () =>
      Worker.start({
        // speedupRatio 1: Dynamo's polynomial fitted on a real GPU, so prefill time grows with uncached tokens.
        engine: {
          kind: 'mocker',
          modelDir: defaultModelDir,
          options: { speedupRatio: 1, contextLength: 8192 },
        },
        discovery: { backend: 'etcd', etcdEndpoints: etcd.endpoint },
        events: { backend: 'nats', natsServer: nats.url },
        systemPort: null,
        canaryIntervalMs: 0,
      }),
    ),
  );
}

async function runPolicy(
  policy: string,
  index: number,
  etcd: EtcdServer,
  nats: NatsServer,
  logs: LogCapture,
): Promise<PolicyRun> {
  const frontend: FrontendHandle = await startFrontend({
    discovery: { backend: 'etcd', etcdEndpoints: etcd.endpoint },
    events: { backend: 'nats', natsServer: nats.url },
    router: { router: policy, seed: 7, decisionLog: 'info' },
    host: '127.0.0.1',
    port: 0,
    drainTimeoutMs: 1000,
  });
  try {
    while (frontend.models.instances().length < WORKERS)
      await new Promise((resolve) => setTimeout(resolve, 10));
    const from = logs.mark();
    // Each policy gets its own prefixes (seed): every run starts with none of its documents cached.
    const results = await runWorkload(
      frontend.url,
      buildWorkload(SHAPE, 100 + index),
      SHAPE,
      `lab-3-3-${policy}`,
    );
    const counts = new Map<string, number>();
    for (const line of logs.grep(/\[frontend\] routed requestId=lab-3-3-/, from)) {
      const id = /workerId=([0-9a-f]+)/.exec(line)?.[1] ?? '?';
      counts.set(id, (counts.get(id) ?? 0) + 1);
    }
    return { policy, results, perWorker: [...counts.values()].sort((a, b) => b - a) };
  } finally {
    await frontend.close();
  }
}

function policyTable(runs: PolicyRun[]): void {
  printTable(
    [
      'policy',
      'requests',
      'TTFT p50 ms',
      'TTFT p90 ms',
      'TTFT mean ms',
      'prefix cached',
      'full prefills',
      'per worker',
    ],
    runs.map(({ policy, results, perWorker }) => {
      const ttft = results.map((r) => r.ttftMs);
      const cached =
        results.reduce((s, r) => s + r.cachedTokens, 0) / results.reduce((s, r) => s + r.promptTokens, 0);
      const cold = results.filter((r) => r.cachedTokens < SHAPE.prefixTokens / 2).length;
      return [
        policy,
        results.length,
        Number(percentile(ttft, 50).toFixed(1)),
        Number(percentile(ttft, 90).toFixed(1)),
        Number(mean(ttft).toFixed(1)),
        `${(cached * 100).toFixed(0)} %`,
        cold,
        perWorker.join('/'),
      ];
    }),
  );
  const meanOf = (p: string) => mean(runs.find((r) => r.policy === p)?.results.map((r) => r.ttftMs) ?? []);
  if (POLICIES.includes('kv') && POLICIES.includes('random')) {
    note(`kv vs random: mean TTFT ${(meanOf('random') / meanOf('kv')).toFixed(2)}× lower`);
  }
  note(
    `the floor: ${SHAPE.groups} documents → at best ${SHAPE.groups} full prefills; ${WORKERS} workers → at worst ` +
      `${Math.min(SHAPE.groups * WORKERS, SHAPE.groups * SHAPE.requestsPerGroup)} for a policy blind to the prefix`,
  );
}

/** The TTFT of every request, per policy, as a CDF: how far right each policy's curve sits is what it costs. */
async function writeTtftChart(runs: PolicyRun[]): Promise<void> {
  const cdf = (values: number[]) =>
    [...values].sort((a, b) => a - b).map((v, i, all) => [v, (i + 1) / all.length] as [number, number]);
  await writeLabChart('3.3', 'routing-ttft', {
    title: 'Routing policies: TTFT on a shared-prefix workload',
    panelWidth: 620,
    subtitle:
      `${SHAPE.groups} documents × ${SHAPE.requestsPerGroup} questions, ${WORKERS} mocker workers, ` +
      `${SHAPE.concurrency} in flight${smoke ? ' (smoke run)' : ''}`,
    panels: [
      {
        title: 'TTFT distribution (client side)',
        xLabel: 'TTFT (ms)',
        yLabel: 'fraction of requests',
        yFromZero: true,
        series: runs.map(({ policy, results }) => ({
          name: policy,
          points: cdf(results.map((r) => r.ttftMs)),
        })),
      },
    ],
  });
}

function explainDecision(logs: LogCapture): void {
  const lines = logs.grep(/\[router\] route requestId=lab-3-3-kv-\d+ policy=kv .*overlap=[1-9]/);
  const line = lines.find((l) => /overlap=0 /.test(l.slice(l.indexOf('workers=')))) ?? lines[0];
  if (!line) {
    note('(no kv decision with a cached prefix was logged)');
    return;
  }
  note(shorten(line, 700));
  note('per worker: prefill_tokens = activePrefillTokens + max(0, isl − overlap·16);');
  note('            cost = weight · prefill_tokens / 16 + (activeBlocks + newBlocks); the lowest cost wins.');
  note('A worker holding the prefix prefills only the suffix; one without it pays for the whole prompt.');
}

function replayTable(metrics: ReplayMetrics[]): void {
  const ms = (x: number | null) => (x === null ? 'n/a' : Math.round(x));
  printTable(
    [
      'policy',
      'TTFT p50 ms',
      'TTFT p90 ms',
      'TTFT mean ms',
      'prefix hit rate',
      'E2E p50 ms',
      'goodput req/s',
    ],
    metrics.map((m) => [
      m.policy,
      ms(m.ttftMs.p50),
      ms(m.ttftMs.p90),
      ms(m.ttftMs.mean),
      `${((m.prefixHitRate ?? 0) * 100).toFixed(1)} %`,
      ms(m.e2eMs.p50),
      m.goodput === null ? 'n/a' : m.goodput.toFixed(2),
    ]),
  );
}

/** Long conversations under kv: the cost arithmetic of one scattered turn, then hit rate vs the ceiling. */
async function conversationScatter(logs: LogCapture): Promise<void> {
  step("Long conversations: why kv's cost scatters them (a generated trace, 4× arrivals, virtual time)");
  const dir = mkdtempSync(join(tmpdir(), 'dhw-lab-3-3-'));
  try {
    const file = join(dir, 'conversation.jsonl');
    const trace = generateTrace(SCATTER, file);
    note(
      `$ dhw replay ${file} --compare round-robin,kv --workers ${SCATTER.workers} --time-scale ${SCATTER.timeScale} --seed ${REPLAY_SEED}`,
    );
    const runs: ScatterRun[] = [];
    for (const policy of ['round-robin', 'kv'])
      runs.push(await replayScatter(trace, policy, SCATTER, REPLAY_SEED));
    explainScatter(runs[1] as ScatterRun, logs);
    printTable(
      [
        'policy',
        'prefix hit rate',
        'LRU ceiling',
        'hit ÷ ceiling',
        'later turns on a new worker',
        'TTFT mean ms',
      ],
      scatterRows(runs),
    );
    note(
      'every moved turn re-prefills its whole history; a policy that keeps conversations sticky while that does',
    );
    note('not overload a worker is tracked in issue 12 item 1 (Lab 3.4 has you write one).');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  banner('3.3', 'Routing policies compared: random, round-robin, kv');
  const logs = new LogCapture('debug');
  let etcd: EtcdServer | undefined;
  let nats: NatsServer | undefined;
  let workers: Worker[] = [];
  try {
    step(
      `Start etcd, NATS and ${WORKERS} mocker workers (GPU-fitted timing: prefill cost grows with uncached tokens)`,
    );
    [etcd, nats] = await Promise.all([startEtcd(), startNats()]);
    workers = await startWorkers(etcd, nats);
    note(`workers: ${workers.map((w) => `${w.instanceId} @ ${w.address}`).join(', ')}`);
    note(
      `workload: ${SHAPE.groups} documents of ${SHAPE.prefixTokens} tokens × ${SHAPE.requestsPerGroup} questions of ` +
        `${SHAPE.suffixTokens} tokens, shuffled, ${SHAPE.concurrency} in flight, max_tokens ${SHAPE.maxTokens}`,
    );

    step(`The same workload through a frontend per policy: ${POLICIES.join(', ')}`);
    const runs: PolicyRun[] = [];
    for (const [i, policy] of POLICIES.entries()) {
      const started = performance.now();
      runs.push(await runPolicy(policy, i, etcd, nats, logs));
      note(
        `${policy}: ${runs.at(-1)!.results.length} requests in ${((performance.now() - started) / 1000).toFixed(2)} s`,
      );
    }
    policyTable(runs);
    await writeTtftChart(runs);

    if (POLICIES.includes('kv')) {
      step('One kv decision, as the router logs it: the cost formula as arithmetic');
      explainDecision(logs);
    }
  } finally {
    await Promise.all(workers.map((w) => w.stop({ drainMs: 0 })));
  }
  try {
    step('The big picture: the Mooncake trace replayed in virtual time (dhw replay --compare)');
    const replayWorkers = smoke ? 2 : 4;
    note(
      `$ dhw replay ${MOONCAKE_TRACE} --compare ${POLICIES.join(',')} --workers ${replayWorkers} --max-requests ${REPLAY_REQUESTS} --seed ${REPLAY_SEED}`,
    );
    const started = performance.now();
    const metrics = await replayPolicies(POLICIES, replayWorkers, REPLAY_REQUESTS, REPLAY_SEED);
    if (metrics) {
      note(
        `Mooncake trace, first ${REPLAY_REQUESTS} requests, ${replayWorkers} simulated workers (${((performance.now() - started) / 1000).toFixed(1)} s wall):`,
      );
      replayTable(metrics);
    }

    await conversationScatter(logs);

    step('A worker dies mid-stream: request migration, then the health view catches up');
    const result = await demonstrateMigration(etcd!, logs, MIGRATION_TOKENS);
    note(
      `the client got ${result.tokensReceived} of ${result.maxTokens} tokens in one stream (${result.chunksReceived} SSE chunks); ` +
        `the longest gap between two ` +
        `tokens was ${result.worstGapMs.toFixed(1)} ms (median ${result.medianGapMs.toFixed(1)} ms): that is the migration`,
    );
    note(
      `the dead worker left the frontend's /health ${(result.healthDropMs / 1000).toFixed(2)} s after kill -9 (lease TTL 2 s)`,
    );
  } finally {
    await Promise.all([etcd?.stop(), nats?.stop()]);
  }
}

runLab(
  main,
  'etcd/NATS missing? sudo apt-get install -y etcd-server etcd-client nats-server. Then: npm run lab -- 3.3 --smoke',
);
