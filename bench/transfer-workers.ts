/**
 * bench:transfer-workers — disaggregation's KV hand-off measured end to end between real `dhw worker`
 * processes on one host (real etcd + NATS): a prefill worker computes a prompt and holds its blocks (with
 * shm it also stages them into /dev/shm at once); the decode worker pulls them and decodes. The same prompt
 * goes through a pair of workers on Unix sockets and a pair on shared memory, alternating request by
 * request so both see the same machine load (bench:transfer measures the backends alone).
 *
 * Per request: the pull time (the decode worker's kv_transfer_duration histogram: the request on the data
 * connection to the last byte in its blocks) and the decode hop's time to its first token (pull +
 * scheduling + one decode step). Medians per model and backend; the last line is the shm/unix ratio.
 *
 * Options: --models fortune,smollm2 (smollm2: a random-weight SmolLM2-135M checkpoint, written once to
 * .dhw/bench-models)  --prompt-tokens 480  --requests 5
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { type EtcdServer, type NatsServer, startEtcd, startNats } from '../src/infra/local-servers.ts';
import type { EngineOutput } from '../src/protocols/engine.ts';
import type { KvTransferParams } from '../src/protocols/kv-transfer.ts';
import { TcpRequestPlane } from '../src/runtime/request-plane/index.ts';
import { repoRoot } from '../src/util/paths.ts';
import { Mulberry32 } from '../src/util/prng.ts';
import { median } from '../src/util/stats.ts';
import { fmt, markdownTable } from '../src/util/table.ts';
import { positiveInt } from './lib/args.ts';
import { benchModelDirs } from './lib/bench-models.ts';
import { describeMachine, machineLine } from './lib/machine.ts';
import { greedyRequest, sumMetric } from './lib/worker-metrics.ts';

const { values } = parseArgs({
  options: {
    models: { type: 'string', default: 'fortune,smollm2' },
    'prompt-tokens': { type: 'string', default: '480' },
    requests: { type: 'string', default: '5' },
  },
});
const PROMPT_TOKENS = positiveInt('prompt-tokens', values['prompt-tokens']);
const REQUESTS = positiveInt('requests', values.requests);
const MODES = ['unix', 'shm'] as const;
type Mode = (typeof MODES)[number];
const DHW = join(repoRoot, 'bin', 'dhw.mjs');
const READY = /Worker ([0-9a-f]+) serving \S+ on (\S+?), status http:\/\/[^:]+:(\d+)\/health/;

interface WorkerProc {
  child: ChildProcess;
  output: () => string;
  address: string;
  metricsUrl: string;
}

const children = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of children) c.kill('SIGKILL');
});

async function spawnWorker(
  infra: { etcd: EtcdServer; nats: NatsServer },
  role: 'prefill' | 'decode',
  mode: Mode,
  modelDir: string,
  namespace: string,
): Promise<WorkerProc> {
  const args = [
    ...['worker', '--role', role, '--engine', 'scratch', '--model', modelDir, '--namespace', namespace],
    ...['--discovery', 'etcd', '--events', 'nats', '--kv-transfer', mode, '--canary-interval', '0'],
    ...['--system-port', '0', '--kv-cache-memory', '256MiB', '--lease-ttl', '30'],
  ];
  const child = spawn(process.execPath, [DHW, ...args], {
    env: { ...process.env, ETCD_ENDPOINTS: infra.etcd.endpoint, NATS_SERVER: infra.nats.url },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  child.on('exit', () => children.delete(child));
  let out = '';
  child.stdout?.on('data', (d) => (out += d));
  child.stderr?.on('data', (d) => (out += d));
  const deadline = Date.now() + 120_000;
  for (;;) {
    const m = READY.exec(out);
    if (m)
      return {
        child,
        output: () => out,
        address: m[2] as string,
        metricsUrl: `http://127.0.0.1:${m[3]}/metrics`,
      };
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`dhw worker --role ${role} --kv-transfer ${mode} did not start:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

interface Sample {
  pullMs: number;
  decodeTtftMs: number;
  bytes: number;
  transport: string;
}

/** One disaggregated request: prefill hop, then the decode hop that pulls; the decode worker's numbers. */
async function oneRequest(
  plane: TcpRequestPlane,
  pair: { prefill: WorkerProc; decode: WorkerProc },
  id: string,
  prompt: number[],
): Promise<Sample> {
  let params: KvTransferParams | undefined;
  const prefillReq = {
    ...greedyRequest(`${id}-p`, prompt, 1),
    kvTransfer: { doRemoteDecode: true as const },
  };
  for await (const o of plane.call(pair.prefill.address, 'generate', prefillReq))
    params = (o as EngineOutput).kvTransferParams ?? params;
  if (!params) throw new Error('the prefill worker returned no kvTransferParams');
  const [sum0, bytes0] = await Promise.all([
    sumMetric(pair.decode.metricsUrl, 'dynamo_component_kv_transfer_duration_seconds_sum'),
    sumMetric(pair.decode.metricsUrl, 'dynamo_component_kv_transfer_bytes_total', 'direction="in"'),
  ]);
  const started = performance.now();
  let first = 0;
  const decodeReq = { ...greedyRequest(id, prompt, 4), kvTransfer: { doRemotePrefill: params } };
  for await (const _ of plane.call(pair.decode.address, 'generate', decodeReq))
    first ||= performance.now() - started;
  const [sum1, bytes1, shm, unix] = await Promise.all([
    sumMetric(pair.decode.metricsUrl, 'dynamo_component_kv_transfer_duration_seconds_sum'),
    sumMetric(pair.decode.metricsUrl, 'dynamo_component_kv_transfer_bytes_total', 'direction="in"'),
    sumMetric(pair.decode.metricsUrl, 'dynamo_component_kv_transfer_pulls_total', 'transport="shm"'),
    sumMetric(pair.decode.metricsUrl, 'dynamo_component_kv_transfer_pulls_total', 'transport="unix"'),
  ]);
  if (bytes1 === bytes0) {
    const warnings = pair.decode
      .output()
      .split('\n')
      .filter((l) => / (WARN|ERROR) /.test(l));
    throw new Error(`request ${id} pulled nothing (a local prefill):\n${warnings.slice(-5).join('\n')}`);
  }
  return {
    pullMs: (sum1 - sum0) * 1000,
    decodeTtftMs: first,
    bytes: bytes1 - bytes0,
    transport: shm > 0 && unix === 0 ? 'shm' : unix > 0 && shm === 0 ? 'unix' : 'mixed',
  };
}

async function main(): Promise<void> {
  const machine = describeMachine();
  console.log(machineLine(machine));
  const [etcd, nats] = await Promise.all([startEtcd(), startNats()]);
  const plane = new TcpRequestPlane();
  const rows: string[][] = [];
  const ratios: string[] = [];
  try {
    for (const [model, dir] of benchModelDirs((values.models ?? '').split(','))) {
      const pairs = {} as Record<Mode, { prefill: WorkerProc; decode: WorkerProc }>;
      for (const mode of MODES) {
        const ns = `bench-${mode}-${process.pid}`;
        const [prefill, decode] = await Promise.all([
          spawnWorker({ etcd, nats }, 'prefill', mode, dir, ns),
          spawnWorker({ etcd, nats }, 'decode', mode, dir, ns),
        ]);
        pairs[mode] = { prefill, decode };
      }
      const samples: Record<Mode, Sample[]> = { unix: [], shm: [] };
      const rng = new Mulberry32(7);
      // One warm-up request per pair (first-use costs: connections, the mirror file), then alternate.
      for (let i = -1; i < REQUESTS; i++) {
        const prompt = Array.from({ length: PROMPT_TOKENS }, () => 3 + Math.floor(rng.nextFloat() * 250));
        const order = i % 2 === 0 ? MODES : [...MODES].reverse();
        for (const mode of order) {
          const s = await oneRequest(plane, pairs[mode], `${mode}-${i + 1}`, prompt);
          if (s.transport !== mode) throw new Error(`the ${mode} pair pulled over ${s.transport}`);
          if (i >= 0) samples[mode].push(s);
        }
      }
      const med = (mode: Mode, k: 'pullMs' | 'decodeTtftMs') => median(samples[mode].map((s) => s[k]));
      for (const mode of MODES) {
        const bytes = samples[mode][0]?.bytes ?? 0;
        const pull = med(mode, 'pullMs');
        rows.push([
          model,
          mode,
          String(PROMPT_TOKENS),
          fmt(bytes / 2 ** 20, 2),
          fmt(pull, 2),
          fmt(bytes / (pull / 1000) / 1e9, 2),
          fmt(med(mode, 'decodeTtftMs'), 1),
        ]);
      }
      ratios.push(
        `${model} pull ${fmt(med('shm', 'pullMs') / med('unix', 'pullMs'), 2)}x, ` +
          `decode-hop TTFT ${fmt(med('shm', 'decodeTtftMs') / med('unix', 'decodeTtftMs'), 2)}x`,
      );
      await Promise.all(
        Object.values(pairs).flatMap((p) => [p.prefill, p.decode].map((w) => stopWorker(w.child))),
      );
    }
  } finally {
    await plane.close();
    for (const c of children) c.kill('SIGKILL');
    await Promise.all([etcd.stop(), nats.stop()]);
  }
  console.log(
    `\nmedian of ${REQUESTS} disaggregated requests per backend (alternating), after one warm-up each:\n`,
  );
  console.log(
    markdownTable(
      [
        { header: 'model', align: 'left' },
        { header: 'backend', align: 'left' },
        ...['prompt tokens', 'MiB pulled', 'pull ms', 'pull GB/s', 'decode-hop TTFT ms'].map((header) => ({
          header,
        })),
      ],
      rows,
    ),
  );
  console.log(`load at end: ${describeMachine().loadAvg1m}`);
  console.log(`shm vs unix (lower is faster): ${ratios.join('; ')}`);
}

function stopWorker(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

await main();
