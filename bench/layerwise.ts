/**
 * bench:layerwise — the two KV hand-offs of disaggregated serving timed end to end on the real engine:
 * 1 prefill + 1 decode `dhw worker` process on one host (real etcd + NATS), the same pair serving both modes,
 * alternating request by request so both see the same machine load.
 *
 *   whole:     prefill hop (compute W, blocks held) → decode hop: READ every layer (T), last token, sample
 *   layerwise: both hops at once; the prefill worker WRITEs layer l as soon as its forward pass wrote it,
 *              the decode worker admits once every layer landed (what the frontend's
 *              `--kv-transfer-mode layerwise` sends)
 *
 * Per request: time to the decode worker's first token from the moment the frontend would send the first
 * hop (TTFT as the client sees it, minus tokenization and routing), and when the prefill hop answered (the
 * prompt is computed: W). "exposed" = TTFT − W of the same request: what the hand-off adds after the prompt
 * is computed (pairing per request keeps a busy box's drift out of it). Random prompts (no prefix-cache hits
 * on either worker). Medians; the last line: exposed ms saved by layer-wise per length, and the TTFT ratio.
 *
 * Options: --models fortune,smollm2 (smollm2: a random-weight SmolLM2-135M checkpoint, written once to
 * .dhw/bench-models)  --prompt-tokens 128,512,1000  --requests 5  --kv-transfer unix|tcp
 */

import { parseArgs } from 'node:util';
import { startEtcd, startNats } from '../src/infra/local-servers.ts';
import type { EngineOutput } from '../src/protocols/engine.ts';
import type { KvTransferParams } from '../src/protocols/kv-transfer.ts';
import { TcpRequestPlane } from '../src/runtime/request-plane/index.ts';
import { Mulberry32 } from '../src/util/prng.ts';
import { median } from '../src/util/stats.ts';
import { fmt, markdownTable } from '../src/util/table.ts';
import { positiveInt, positiveIntList } from './lib/args.ts';
import { benchModelDirs } from './lib/bench-models.ts';
import { type DhwChild, spawnDhw } from './lib/dhw-stack.ts';
import { describeMachine, machineLine } from './lib/machine.ts';
import { greedyRequest, sumMetric } from './lib/worker-metrics.ts';

const { values } = parseArgs({
  options: {
    models: { type: 'string', default: 'fortune,smollm2' },
    'prompt-tokens': { type: 'string', default: '128,512,1000' },
    requests: { type: 'string', default: '5' },
    'kv-transfer': { type: 'string', default: 'unix' },
  },
});
const LENGTHS = positiveIntList('prompt-tokens', values['prompt-tokens']);
const REQUESTS = positiveInt('requests', values.requests);
const TRANSPORT = values['kv-transfer'] ?? 'unix';
if (TRANSPORT !== 'unix' && TRANSPORT !== 'tcp') throw new Error('--kv-transfer: unix or tcp');
const MODES = ['whole', 'layerwise'] as const;
type Mode = (typeof MODES)[number];
const READY = /Worker ([0-9a-f]+) serving \S+ on (\S+?), status http:\/\/[^:]+:(\d+)\/health/;

interface WorkerProc extends DhwChild {
  instanceId: string;
  address: string;
  metricsUrl: string;
}

async function startWorker(
  infra: { etcd: string; nats: string },
  role: 'prefill' | 'decode',
  modelDir: string,
  namespace: string,
): Promise<WorkerProc> {
  const proc = await spawnDhw(
    [
      ...['worker', '--role', role, '--engine', 'scratch', '--model', modelDir, '--namespace', namespace],
      ...['--discovery', 'etcd', '--etcd-endpoints', infra.etcd, '--events', 'nats'],
      ...['--nats-server', infra.nats, '--kv-transfer', TRANSPORT, '--canary-interval', '0'],
      ...['--system-port', '0', '--kv-cache-memory', '512MiB', '--lease-ttl', '120'],
      // A long SmolLM2 forward pass blocks the worker's event loop (and its lease keepalive) for seconds on a
      // loaded 2-core box: a generous lease. Layer-wise, the destination's ttl covers the whole prefill too.
      ...['--kv-pull-timeout', '60000'],
    ],
    READY,
    180_000,
  );
  const [, instanceId, address, port] = proc.ready;
  return {
    ...proc,
    instanceId: instanceId as string,
    address: address as string,
    metricsUrl: `http://127.0.0.1:${port}/metrics`,
  };
}

interface Sample {
  ttftMs: number;
  /** When the prefill hop answered: the prompt is computed (W). */
  prefillMs: number;
}

/** Iterate a worker stream until its first output; returns ms since `t0` (the rest is drained). */
async function firstOutputMs(
  items: AsyncIterable<unknown>,
  t0: number,
  onOutput?: (o: EngineOutput) => void,
): Promise<number> {
  let first = 0;
  for await (const o of items) {
    first ||= performance.now() - t0;
    onOutput?.(o as EngineOutput);
  }
  return first;
}

async function whole(plane: TcpRequestPlane, pair: Pair, id: string, prompt: number[]): Promise<Sample> {
  const t0 = performance.now();
  let params: KvTransferParams | undefined;
  const prefillReq = { ...greedyRequest(id, prompt, 1), kvTransfer: { doRemoteDecode: true as const } };
  for await (const o of plane.call(pair.prefill.address, 'generate', prefillReq))
    params = (o as EngineOutput).kvTransferParams ?? params;
  const prefillMs = performance.now() - t0;
  if (!params) throw new Error('the prefill worker returned no kvTransferParams');
  const decodeReq = { ...greedyRequest(id, prompt, 2), kvTransfer: { doRemotePrefill: params } };
  const ttftMs = await firstOutputMs(plane.call(pair.decode.address, 'generate', decodeReq), t0);
  return { ttftMs, prefillMs };
}

async function layerwise(plane: TcpRequestPlane, pair: Pair, id: string, prompt: number[]): Promise<Sample> {
  const t0 = performance.now();
  const decodeReq = {
    ...greedyRequest(id, prompt, 2),
    kvTransfer: { awaitKvPush: { remoteAgent: pair.prefill.instanceId } },
  };
  const prefillReq = {
    ...greedyRequest(id, prompt, 1),
    kvTransfer: { doRemoteDecode: true as const, pushTo: { agent: pair.decode.instanceId } },
  };
  const [ttftMs, prefillMs] = await Promise.all([
    firstOutputMs(plane.call(pair.decode.address, 'generate', decodeReq), t0),
    firstOutputMs(plane.call(pair.prefill.address, 'generate', prefillReq), t0),
  ]);
  return { ttftMs, prefillMs };
}

interface Pair {
  prefill: WorkerProc;
  decode: WorkerProc;
}

async function main(): Promise<void> {
  console.log(machineLine(describeMachine()));
  const [etcd, nats] = await Promise.all([startEtcd(), startNats()]);
  const plane = new TcpRequestPlane();
  const rows: string[][] = [];
  const ratios: string[] = [];
  const workers: WorkerProc[] = [];
  try {
    for (const [model, dir] of benchModelDirs((values.models ?? '').split(','))) {
      const ns = `bench-layerwise-${process.pid}-${rows.length}`;
      const infra = { etcd: etcd.endpoint, nats: nats.url };
      const [prefill, decode] = await Promise.all([
        startWorker(infra, 'prefill', dir, ns),
        startWorker(infra, 'decode', dir, ns),
      ]);
      workers.push(prefill, decode);
      const pair = { prefill, decode };
      const rng = new Mulberry32(7);
      let n = 0;
      for (const length of LENGTHS) {
        const samples: Record<Mode, Sample[]> = { whole: [], layerwise: [] };
        // One warm-up per mode (data connections, a layer-wise pool of one connection per layer), then alternate.
        for (let i = -1; i < REQUESTS; i++) {
          const order = i % 2 === 0 ? MODES : [...MODES].reverse();
          for (const mode of order) {
            const prompt = Array.from({ length }, () => 3 + Math.floor(rng.nextFloat() * 250));
            const run = mode === 'whole' ? whole : layerwise;
            const s = await run(plane, pair, `${mode}-${length}-${n++}`, prompt);
            if (i >= 0) samples[mode].push(s);
          }
        }
        const fallbacks = await sumMetric(decode.metricsUrl, 'dynamo_component_kv_transfer_fallbacks_total');
        if (fallbacks > 0)
          throw new Error(
            `${fallbacks} hand-offs fell back to a local prefill:\n${decode.output().slice(-2000)}`,
          );
        const med = (mode: Mode, of: (s: Sample) => number) => median(samples[mode].map(of));
        const exposed = (s: Sample) => s.ttftMs - s.prefillMs;
        // Negative exposed time is real: the decode worker answered before the prefill worker did (it needs
        // only the last layer's KV, not the prefill's own logits), so compare by difference, not ratio.
        const saved = med('whole', exposed) - med('layerwise', exposed);
        const ttftRatio = med('layerwise', (s) => s.ttftMs) / med('whole', (s) => s.ttftMs);
        rows.push([
          model,
          String(length),
          ...MODES.map((m) =>
            fmt(
              med(m, (s) => s.prefillMs),
              1,
            ),
          ),
          ...MODES.map((m) =>
            fmt(
              med(m, (s) => s.ttftMs),
              1,
            ),
          ),
          ...MODES.map((m) => fmt(med(m, exposed), 1)),
          fmt(saved, 1),
          fmt(ttftRatio, 2),
        ]);
        ratios.push(
          `${model.split(' ')[0]} ${length}: ${fmt(saved, 1)} ms saved, TTFT ${fmt(ttftRatio, 2)}x`,
        );
        // Progress on stderr (a long SmolLM2 run takes minutes per length); stdout keeps only the report.
        console.error(
          `${model} ${length} tokens: ${rows.at(-1)?.join(' | ')} (load ${describeMachine().loadAvg1m})`,
        );
      }
      const pushes = await sumMetric(
        prefill.metricsUrl,
        'dynamo_component_kv_transfer_layer_pushes_total',
        'outcome="ok"',
      );
      console.error(`${model}: ${pushes} layer WRITEs ok`);
      await Promise.all([prefill.stop(), decode.stop()]);
    }
  } finally {
    await plane.close();
    await Promise.all(workers.map((w) => w.stop()));
    await Promise.all([etcd.stop(), nats.stop()]);
  }
  console.log(
    `\nmedian of ${REQUESTS} requests per mode (alternating, one warm-up each), --kv-transfer ${TRANSPORT}:\n`,
  );
  console.log(
    markdownTable(
      [
        { header: 'model', align: 'left' },
        ...[
          'prompt tokens',
          'W whole ms',
          'W layerwise ms',
          'TTFT whole ms',
          'TTFT layerwise ms',
          'exposed whole ms',
          'exposed layerwise ms',
          'hand-off ms saved',
          'TTFT lw ÷ whole',
        ].map((header) => ({ header })),
      ],
      rows,
    ),
  );
  console.log(`load at end: ${describeMachine().loadAvg1m}`);
  console.log(`layerwise vs whole: ${ratios.join('; ')}`);
}

await main();
