/**
 * Lab 4.2: disaggregated prefill and decode, and when it pays. First the rule (Dynamo's conditional
 * disaggregation, one pure function). Then the real engine: two aggregated `dhw worker` processes against
 * one prefill worker + one decode worker (`--role prefill|decode`), the same mixed workload (long prompts
 * among streaming short ones) through the frontend, TTFT and ITL predicted from solo runs and then measured,
 * the frontend's decision lines, and the long prompts' outputs compared across both (the KV hand-off must
 * not change a token). Last, the same at GPU scale in virtual time (`dhw replay --synthetic mixed`) and a
 * link sweep: where moving the KV costs more than it saves. Like moving bulk transfers off the queue that
 * interactive traffic uses.
 *
 * @expect /prompt +cached on decode +prefill queue +prefill workers +remote +reason/
 * @expect /solo: short request ITL [\d.]+ ms, long prompt \(\d+ tokens\) TTFT [\d.]+ ms/
 * @expect /aggregated \(2 workers\): short ITL max [\d.]+ ms/
 * @expect /disaggregated \(1 prefill \+ 1 decode\): short ITL max [\d.]+ ms/
 * @expect /disaggregation decision .*remote=true/
 * @expect /disaggregation decision .*reason=short_uncached_prompt/
 * @expect /long prompts: cached_tokens on the decode worker = prompt - 1 for \d+ of \d+/
 * @expect /long completions equal the aggregated run's: true/
 * @expect /metric +predicted agg +measured agg +predicted disagg +measured disagg/
 * @expect /replay, mixed workload: .*aggregated/
 * @expect /link sweep/
 * @expect Lab complete.
 */
import { type FrontendHandle, startFrontend } from '../../../src/frontend/index.ts';
import { type EtcdServer, type NatsServer, startEtcd, startNats } from '../../../src/infra/local-servers.ts';
import { DISAGG_DEFAULTS, decideDisaggregation } from '../../../src/router/index.ts';
import { percentile } from '../../../src/util/stats.ts';
import { argValue, banner, isSmoke, note, printTable, runLab, step } from '../../lib/lab-kit.ts';
import { LogCapture, shorten } from '../../lib/log-capture.ts';
import { distinctPrompt, timedCompletion } from '../../lib/stream-timing.ts';
import { spawnWorker, type WorkerProcess, workerCommandLine } from '../../lib/worker-process.ts';
import { type MixedResult, type MixedShape, planMixed, runMixed, summarize } from './mixed-workload.ts';
import { replaySteps } from './replay-sweep.ts';

const smoke = isSmoke();
/** The lab's threshold: prompts with more uncached tokens than this are prefilled remotely. */
const LOCAL_MAX = Number(argValue('max-local-prefill-length') ?? 256);
// All short streams start first and stream long enough that, when a long prompt arrives, both aggregated
// workers are serving some of them (the router spreads them by load): whichever worker takes the long
// prompt stalls its streams. The long prompts come a little apart, so at most 2 remote prefills are in
// flight (the default prefill queue limit; a third would stay local: prefill_queue_full).
const SHAPE: MixedShape = smoke
  ? {
      shortRequests: 6,
      shortPromptTokens: 24,
      shortOutputTokens: 128,
      shortGapMs: 25,
      longPromptTokens: 384,
      longOutputTokens: 4,
      longStartsMs: [100, 300],
    }
  : {
      shortRequests: 8,
      shortPromptTokens: 32,
      shortOutputTokens: 256,
      shortGapMs: 25,
      longPromptTokens: 768,
      longOutputTokens: 8,
      longStartsMs: [150, 450],
    };

/** fortune-llama: 2 (K, V) × 6 layers × 4 KV heads × 32 dims × 4 B (f32). */
const KV_BYTES_PER_TOKEN = 2 * 6 * 4 * 32 * 4;
const BLOCK = 16;

interface Stack {
  frontend: FrontendHandle;
  workers: WorkerProcess[];
  close(): Promise<void>;
}

function workerArgs(etcd: EtcdServer, nats: NatsServer, namespace: string, extra: string[]): string[] {
  return [
    ...extra,
    '--engine',
    'scratch',
    '--threads',
    '1',
    '--namespace',
    namespace,
    '--discovery',
    'etcd',
    '--etcd-endpoints',
    etcd.endpoint,
    '--events',
    'nats',
    '--nats-server',
    nats.url,
    '--canary-interval',
    '0',
    '--log-level',
    'warn',
  ];
}

async function startStack(
  etcd: EtcdServer,
  nats: NatsServer,
  namespace: string,
  roles: string[][],
): Promise<Stack> {
  for (const extra of roles) note(`$ ${workerCommandLine(workerArgs(etcd, nats, namespace, extra))} &`);
  const workers = await Promise.all(
    roles.map((extra) => spawnWorker(workerArgs(etcd, nats, namespace, extra))),
  );
  const frontend = await startFrontend({
    namespace,
    discovery: { backend: 'etcd', etcdEndpoints: etcd.endpoint },
    events: { backend: 'nats', natsServer: nats.url },
    router: { router: 'kv', seed: 7 },
    disagg: { maxLocalPrefillLength: LOCAL_MAX, maxPrefillQueueSize: DISAGG_DEFAULTS.maxPrefillQueueSize },
    host: '127.0.0.1',
    port: 0,
    drainTimeoutMs: 2000,
  });
  const deadline = Date.now() + 15_000;
  while (frontend.models.instances().length === 0) {
    if (Date.now() > deadline)
      throw new Error("the frontend saw no worker within 15 s: check the workers' output");
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return {
    frontend,
    workers,
    close: async () => {
      await frontend.close();
      await Promise.all(workers.map((w) => w.stop()));
    },
  };
}

function decisionTable(): void {
  const cases = [
    { promptTokens: 200, cachedOnDecode: 0, prefillQueueSize: 0, prefillWorkers: 1 },
    { promptTokens: 3000, cachedOnDecode: 0, prefillQueueSize: 0, prefillWorkers: 1 },
    { promptTokens: 3000, cachedOnDecode: 2400, prefillQueueSize: 0, prefillWorkers: 1 },
    { promptTokens: 3000, cachedOnDecode: 0, prefillQueueSize: 2, prefillWorkers: 1 },
    { promptTokens: 3000, cachedOnDecode: 0, prefillQueueSize: 0, prefillWorkers: 0 },
  ];
  printTable(
    ['prompt', 'cached on decode', 'prefill queue', 'prefill workers', 'remote', 'reason'],
    cases.map((c) => {
      const d = decideDisaggregation(c, DISAGG_DEFAULTS);
      return [
        c.promptTokens,
        c.cachedOnDecode,
        c.prefillQueueSize,
        c.prefillWorkers,
        String(d.remote),
        d.reason,
      ];
    }),
  );
}

const f1 = (x: number) => +x.toFixed(1);

/**
 * Median TTFT of the long prompts when `servers` workers prefill them first come, first served, each taking
 * `prefillMs` (a queueing model, M/D/c with known arrivals): the second long prompt on ONE prefill worker
 * waits for the first. `extraMs` is added to each (the hand-off and one step when disaggregated).
 */
function predictLongTtft(
  starts: readonly number[],
  prefillMs: number,
  servers: number,
  extraMs: number,
): number {
  const freeAt = new Array<number>(servers).fill(0);
  const ttfts = starts.map((start) => {
    const soonest = freeAt.indexOf(Math.min(...freeAt));
    const finish = Math.max(start, freeAt[soonest] as number) + prefillMs;
    freeAt[soonest] = finish;
    return finish - start + extraMs;
  });
  return percentile(ttfts, 50);
}

async function main(): Promise<void> {
  banner('4.2', 'Disaggregated prefill and decode, and when it pays');
  const logs = new LogCapture('info');
  let etcd: EtcdServer | undefined;
  let nats: NatsServer | undefined;
  let stack: Stack | undefined;
  try {
    step('The rule: prefill remotely only when the UNCACHED prompt is long and the prefill queue short');
    note(
      `Dynamo's defaults: max_local_prefill_length ${DISAGG_DEFAULTS.maxLocalPrefillLength}, max_prefill_queue_size ${DISAGG_DEFAULTS.maxPrefillQueueSize}`,
    );
    decisionTable();
    note(
      `this lab's real engine has a 1,024-token context, so it uses --max-local-prefill-length ${LOCAL_MAX}`,
    );

    step('Start etcd and NATS; then two AGGREGATED workers (each prefills and decodes) and a frontend');
    [etcd, nats] = await Promise.all([startEtcd(), startNats()]);
    stack = await startStack(etcd, nats, 'lab42agg', [[], []]);

    step('Measure each kind of request alone: the inputs of the prediction');
    // First requests on a fresh worker pay one-time costs (buffers, JIT): warm both up, unmeasured.
    await Promise.all(
      [0, 1, 2, 3].map((i) =>
        timedCompletion(stack!.frontend.url, {
          requestId: `lab-4-2-warmup-agg-${i}`,
          prompt: distinctPrompt(700 + i, 64),
          maxTokens: 4,
        }),
      ),
    );
    const soloShort = await timedCompletion(stack.frontend.url, {
      requestId: 'lab-4-2-solo-short',
      prompt: distinctPrompt(1, SHAPE.shortPromptTokens),
      maxTokens: SHAPE.shortOutputTokens,
    });
    const soloLong = await timedCompletion(stack.frontend.url, {
      requestId: 'lab-4-2-solo-long',
      prompt: distinctPrompt(2, SHAPE.longPromptTokens),
      maxTokens: SHAPE.longOutputTokens,
    });
    const itl = summarizeItl(soloShort.itlMs);
    const prefillMs = soloLong.ttftMs;
    note(
      `solo: short request ITL ${itl.toFixed(1)} ms, long prompt (${SHAPE.longPromptTokens} tokens) TTFT ${prefillMs.toFixed(1)} ms`,
    );
    const transferMs = (Math.ceil(SHAPE.longPromptTokens / BLOCK) * BLOCK * KV_BYTES_PER_TOKEN) / 1e6; // ~1 GB/s (lab 4.1)
    note('predict before measuring:');
    note(
      `  aggregated: a long prompt's prefill is ONE engine step on its worker; every short stream there waits`,
    );
    const aggLongTtft = predictLongTtft(SHAPE.longStartsMs, prefillMs, 2, 0);
    const disLongTtft = predictLongTtft(SHAPE.longStartsMs, prefillMs, 1, transferMs + itl);
    note(
      `    for it → worst short ITL ≈ the long prefill (${prefillMs.toFixed(0)} ms); long TTFT p50 ≈ ${aggLongTtft.toFixed(0)} ms (2 workers prefill in parallel)`,
    );
    note(
      `  disaggregated: the decode worker never runs a long prefill, only the short prompts' (local) ones →`,
    );
    note(
      `    worst short ITL ≈ one short prefill (≈ a short request's TTFT alone, ${soloShort.ttftMs.toFixed(0)} ms);`,
    );
    note(
      `    long TTFT ≈ prefill + KV pull (${((SHAPE.longPromptTokens * KV_BYTES_PER_TOKEN) / 1e6).toFixed(1)} MB at ~1 GB/s ≈ ${transferMs.toFixed(1)} ms) + one step,`,
    );
    note(
      `    and ONE prefill worker takes the long prompts in turn → long TTFT p50 ≈ ${disLongTtft.toFixed(0)} ms`,
    );

    step(
      `The mixed workload on the aggregated pair: ${SHAPE.shortRequests} short streams, ${SHAPE.longStartsMs.length} long prompts among them`,
    );
    const plan = (tag: string) => planMixed(SHAPE, tag, 42);
    const agg = await runMixed(stack.frontend.url, plan('lab-4-2-agg'));
    const aggSummary = summarize(agg);
    note(
      `aggregated (2 workers): short ITL max ${aggSummary.shortItlMax.toFixed(1)} ms, p50 ${aggSummary.shortItlP50.toFixed(1)} ms; long TTFT p50 ${aggSummary.longTtftP50.toFixed(1)} ms`,
    );
    await stack.close();
    stack = undefined;

    step("Now ONE prefill worker + ONE decode worker (same two processes' worth of CPU), same frontend code");
    stack = await startStack(etcd, nats, 'lab42disagg', [
      ['--role', 'prefill'],
      ['--role', 'decode'],
    ]);
    await untilRemote(stack.frontend.url, logs);
    const from = logs.mark();
    const disagg = await runMixed(stack.frontend.url, plan('lab-4-2-disagg'));
    const disSummary = summarize(disagg);
    note(
      `disaggregated (1 prefill + 1 decode): short ITL max ${disSummary.shortItlMax.toFixed(1)} ms, p50 ${disSummary.shortItlP50.toFixed(1)} ms; long TTFT p50 ${disSummary.longTtftP50.toFixed(1)} ms`,
    );

    step('The frontend decided per request: its decision lines (one long, one short)');
    const decisions = logs.grep(/disaggregation decision/, from);
    const remote = decisions.find((l) => /remote=true/.test(l));
    const local = decisions.find((l) => /reason=short_uncached_prompt/.test(l));
    for (const line of [remote, local]) note(shorten(line ?? '(no such line: see the frontend log)', 330));
    const reasons = new Map<string, number>();
    for (const line of decisions) {
      const reason = /reason=(\w+)/.exec(line)?.[1] ?? '?';
      reasons.set(reason, (reasons.get(reason) ?? 0) + 1);
    }
    note(`${decisions.length} decisions: ${[...reasons].map(([r, n]) => `${r} ${n}`).join(', ')}`);
    if (reasons.has('prefill_queue_full'))
      note(
        '(prefill_queue_full: 2 remote prefills were in flight, so the rule kept that long prompt local: its prefill stalls the decode worker)',
      );
    checkHandOff(agg, disagg);

    step('Predicted vs measured');
    printTable(
      ['metric', 'predicted agg', 'measured agg', 'predicted disagg', 'measured disagg'],
      [
        [
          'short ITL max, ms',
          f1(prefillMs),
          f1(aggSummary.shortItlMax),
          f1(soloShort.ttftMs),
          f1(disSummary.shortItlMax),
        ],
        ['short ITL p50, ms', f1(itl), f1(aggSummary.shortItlP50), f1(itl), f1(disSummary.shortItlP50)],
        [
          'long TTFT p50, ms',
          f1(aggLongTtft),
          f1(aggSummary.longTtftP50),
          f1(disLongTtft),
          f1(disSummary.longTtftP50),
        ],
        [
          'short TTFT p50, ms',
          f1(soloShort.ttftMs),
          f1(aggSummary.shortTtftP50),
          f1(soloShort.ttftMs),
          f1(disSummary.shortTtftP50),
        ],
      ],
    );
    note(
      'read the worst ITL first: the long prefills left the decode worker; the long TTFT pays the hand-off;',
    );
    note('on 2 shared cores the two processes also compete for CPU, so expect noise, not exact ratios.');
    await stack.close();
    stack = undefined;

    await replaySteps(smoke);
  } finally {
    await stack?.close();
    await Promise.all([etcd?.stop(), nats?.stop()]);
  }
}

function summarizeItl(itl: number[]): number {
  const sorted = [...itl].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
}

/** Send long prompts until the frontend has seen the prefill worker and decides "remote" (warms both up). */
async function untilRemote(url: string, logs: LogCapture): Promise<void> {
  const deadline = Date.now() + 20_000;
  for (let i = 0; Date.now() < deadline; i++) {
    const from = logs.mark();
    await timedCompletion(url, {
      requestId: `lab-4-2-warmup-${i}`,
      prompt: distinctPrompt(900 + i, LOCAL_MAX + 32),
      maxTokens: 2,
    });
    if (logs.grep(/disaggregation decision .*remote=true/, from).length > 0) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(
    'the frontend never decided "remote" within 20 s: is the prefill worker registered? (dhw ls)',
  );
}

/** The hand-off is real: decode reports prompt-1 tokens it did not compute, and greedy outputs are unchanged. */
function checkHandOff(agg: MixedResult[], disagg: MixedResult[]): void {
  const longs = disagg.filter((r) => r.kind === 'long');
  const pulled = longs.filter((r) => r.cachedTokens === r.promptTokens - 1).length;
  note(
    `long prompts: cached_tokens on the decode worker = prompt - 1 for ${pulled} of ${longs.length} (KV that came over the link, not computed there)`,
  );
  const aggText = new Map(
    agg.filter((r) => r.kind === 'long').map((r) => [r.requestId.replace('-agg-', '-'), r.text]),
  );
  const same = longs.every((r) => aggText.get(r.requestId.replace('-disagg-', '-')) === r.text);
  note(
    `long completions equal the aggregated run's: ${same} (greedy decoding; the hand-off must not change a token)`,
  );
}

runLab(
  main,
  'etcd/NATS missing? sudo apt-get install -y etcd-server etcd-client nats-server. Prefill worker not found? dhw ls. Then: npm run lab -- 4.2 --smoke',
);
