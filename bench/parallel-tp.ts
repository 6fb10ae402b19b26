/**
 * bench:parallel (tensor-parallel part) — what splitting one model over ranks costs and buys on this box:
 * prefill and decode tokens/s, bytes all-reduced per token, and the communication time per layer,
 * predicted from a measured loopback link (latency α, bandwidth β) next to what the ranks measured.
 *
 *   TP=1 (1 thread), TP=1 (2 threads)              the baselines: one rank, one or two cores
 *   TP=2 threads (1 kernel thread per rank)        shared-memory all-reduce (SharedArrayBuffer, futex barriers)
 *   TP=2 processes (1 kernel thread per rank)      `dhw tp-rank` child, ring all-reduce over loopback TCP
 *
 * Prediction for a ring all-reduce of n bytes over N ranks (the textbook α-β model): 2(N−1) steps, each
 * sending n/N bytes, so t = 2(N−1)·(α + n/(N·β)); a layer does two of them (after o and after down).
 * Measured = time rank 0 spent inside allReduce, which also contains waiting for the slower rank.
 *
 * Honesty note: the box has 2 cores shared with other work; TP=2 uses both, so compare it with TP=1 on
 * 2 threads, not 1. The all-reduce payload per token (2 × layers × hidden × 4 bytes) is exact; the times
 * are what this machine did on this run.
 *
 * Options: --model DIR (default fortune-llama)  --prompt 128  --decode 32  --repeats 3  --smoke
 * Exported: runParallelTpBench(options) → rows, tpBenchTable(result) → Markdown (for bench:parallel).
 */
import { spawn } from 'node:child_process';
import { createServer, createConnection, type Socket } from 'node:net';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { spawnLocalTpRanks } from '../src/engine/index.ts';
import {
  type AllReduceStats,
  type ForwardBatch,
  type KvCacheTensors,
  LlamaModel,
  loadModelConfig,
  makeBatch,
  TensorParallelGroup,
} from '../src/model/index.ts';
import { FRAME, FramedSocket } from '../src/model/parallel/framed-socket.ts';
import { median } from '../src/util/stats.ts';
import { fmt, markdownTable } from '../src/util/table.ts';
import { defaultModelDir, repoRoot } from '../src/util/paths.ts';
import { positiveInt } from './lib/args.ts';
import { describeMachine, machineLine } from './lib/machine.ts';

export interface TpBenchOptions {
  modelDir?: string;
  promptTokens?: number;
  decodeSteps?: number;
  repeats?: number;
}

/** The loopback link as the α-β model sees it. */
export interface LinkProfile {
  /** One-way latency of a small frame, ms (half the median round trip). */
  alphaMs: number;
  /** Bandwidth of a long stream of 1 MiB frames, bytes per ms. */
  betaBytesPerMs: number;
}

export interface TpBenchRow {
  config: string;
  ranks: number;
  prefillTokPerS: number;
  decodeTokPerS: number;
  /** Bytes summed by all-reduces per token processed (the same on every rank). */
  allReducedBytesPerToken: number;
  /** Bytes rank 0 put on a link per token (ring: 2(N−1)/N of the payload). */
  sentBytesPerToken: number;
  prefillCommMsPerLayer: { predicted: number | null; measured: number | null };
  decodeCommMsPerLayer: { predicted: number | null; measured: number | null };
}

export interface TpBenchResult {
  model: string;
  layers: number;
  hidden: number;
  link: LinkProfile;
  rows: TpBenchRow[];
}

type Forward = (b: ForwardBatch) => Promise<Float32Array>;
type Stats = () => AllReduceStats | null;

const BLOCK_SIZE = 16;

export async function runParallelTpBench(o: TpBenchOptions = {}): Promise<TpBenchResult> {
  const dir = o.modelDir ?? defaultModelDir;
  const prompt = o.promptTokens ?? 128;
  const decode = o.decodeSteps ?? 32;
  const repeats = o.repeats ?? 3;
  const c = loadModelConfig(dir);
  const link = await measureLoopback();
  const numBlocks = Math.ceil((prompt + decode) / BLOCK_SIZE) + 1;
  const rows: TpBenchRow[] = [];
  const run = async (
    config: string,
    ranks: number,
    forward: Forward,
    stats: Stats,
    transport: 'none' | 'threads' | 'tcp',
  ) => {
    const m = await measure(forward, stats, c.vocabSize, prompt, decode, repeats);
    const layers = c.numLayers;
    const predict = (rows: number): number | null =>
      transport === 'tcp' ? 2 * ringAllReduceMs(rows * c.hiddenSize * 4, ranks, link) : null;
    rows.push({
      config,
      ranks,
      prefillTokPerS: m.prefillTokPerS,
      decodeTokPerS: m.decodeTokPerS,
      allReducedBytesPerToken: m.payloadBytesPerToken,
      sentBytesPerToken: m.sentBytesPerToken,
      prefillCommMsPerLayer: {
        predicted: predict(prompt),
        measured: transport === 'none' ? null : m.prefillCommMs / layers,
      },
      decodeCommMsPerLayer: {
        predicted: predict(1),
        measured: transport === 'none' ? null : m.decodeCommMs / layers,
      },
    });
  };

  for (const threads of [1, 2]) {
    const model = await LlamaModel.load(dir, { threads });
    const kv = model.allocateKvCache(numBlocks, BLOCK_SIZE);
    await run(
      `TP=1, ${threads} thread${threads > 1 ? 's' : ''}`,
      1,
      async (b) => model.forward(b, kv),
      () => null,
      'none',
    );
    await model.close();
  }
  const kernelOptions = { threads: 1 };
  {
    const group = await TensorParallelGroup.start({ dir, size: 2, transport: 'threads', kernelOptions });
    const kv = group.allocateKvCache(numBlocks, BLOCK_SIZE);
    await run(
      'TP=2 threads',
      2,
      (b) => group.forward(b, kv),
      () => group.commStats(),
      'threads',
    );
    await group.close();
  }
  {
    const ranks = await spawnLocalTpRanks({ modelDir: dir, size: 2, threads: 1 });
    const group = await TensorParallelGroup.start({
      dir,
      size: 2,
      transport: 'tcp',
      peers: ranks.peers,
      kernelOptions,
    });
    const kv: KvCacheTensors = group.allocateKvCache(numBlocks, BLOCK_SIZE);
    await run(
      'TP=2 processes (TCP ring)',
      2,
      (b) => group.forward(b, kv),
      () => group.commStats(),
      'tcp',
    );
    await group.close();
    await ranks.stop();
  }
  return { model: dir.split('/').at(-1)!, layers: c.numLayers, hidden: c.hiddenSize, link, rows };
}

/** α-β time of one ring all-reduce of `bytes` over `n` ranks, ms. */
export function ringAllReduceMs(bytes: number, n: number, link: LinkProfile): number {
  return 2 * (n - 1) * (link.alphaMs + bytes / n / link.betaBytesPerMs);
}

async function measure(
  forward: Forward,
  stats: Stats,
  vocab: number,
  prompt: number,
  decode: number,
  repeats: number,
) {
  const tokens = Array.from({ length: prompt }, (_, i) => (i * 7919 + 13) % vocab);
  const blockTable = Int32Array.from({ length: Math.ceil((prompt + decode) / BLOCK_SIZE) }, (_, i) => i);
  const snap = () => stats() ?? { calls: 0, payloadBytes: 0, sentBytes: 0, ms: 0 };
  const prefillMs: number[] = [];
  const decodeMs: number[] = [];
  const prefillComm: number[] = [];
  const decodeComm: number[] = [];
  const before = snap();
  for (let r = 0; r < repeats; r++) {
    const s0 = snap();
    let t0 = performance.now();
    const logits = await forward(makeBatch([{ tokens, startPos: 0, blockTable }], BLOCK_SIZE, 'last'));
    prefillMs.push(performance.now() - t0);
    const s1 = snap();
    prefillComm.push(s1.ms - s0.ms);
    let next = argmaxOf(logits);
    t0 = performance.now();
    for (let i = 0; i < decode; i++) {
      const out = await forward(
        makeBatch([{ tokens: [next], startPos: prompt + i, blockTable }], BLOCK_SIZE, 'last'),
      );
      next = argmaxOf(out);
    }
    decodeMs.push(performance.now() - t0);
    decodeComm.push((snap().ms - s1.ms) / decode);
  }
  const after = snap();
  const totalTokens = repeats * (prompt + decode);
  return {
    prefillTokPerS: (prompt / median(prefillMs)) * 1000,
    decodeTokPerS: (decode / median(decodeMs)) * 1000,
    payloadBytesPerToken: (after.payloadBytes - before.payloadBytes) / totalTokens,
    sentBytesPerToken: (after.sentBytes - before.sentBytes) / totalTokens,
    prefillCommMs: median(prefillComm),
    decodeCommMs: median(decodeComm),
  };
}

function argmaxOf(a: Float32Array): number {
  let best = 0;
  for (let i = 1; i < a.length; i++) if (a[i]! > a[best]!) best = i;
  return best;
}

/** Ping-pong of 4-byte frames (latency) and a stream of 1 MiB frames (bandwidth) to a child process. */
async function measureLoopback(): Promise<LinkProfile> {
  const script = fileURLToPath(import.meta.url);
  const child = spawn(process.execPath, [join(repoRoot, 'bin', 'run-ts.mjs'), script, '--echo'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const port = await new Promise<number>((resolve) =>
    createInterface({ input: child.stdout! }).once('line', (l) => resolve(Number(l))),
  );
  const socket = await new Promise<Socket>((resolve, reject) => {
    const s = createConnection(port, '127.0.0.1', () => resolve(s));
    s.once('error', reject);
  });
  const link = new FramedSocket(socket, 'echo', 30_000);
  const rtts: number[] = [];
  const small = Buffer.alloc(4);
  for (let i = 0; i < 300; i++) {
    const t0 = performance.now();
    link.send(FRAME.DATA, small);
    await link.expect(FRAME.DATA);
    rtts.push(performance.now() - t0);
  }
  const big = Buffer.alloc(1 << 20);
  const frames = 64;
  const t0 = performance.now();
  for (let i = 0; i < frames; i++) link.send(FRAME.INIT, big); // INIT: the echo side counts, answers at the end
  link.send(FRAME.STOP, small);
  await link.expect(FRAME.STOP);
  const streamMs = performance.now() - t0;
  link.close();
  child.kill();
  const alphaMs = median(rtts) / 2;
  return { alphaMs, betaBytesPerMs: (frames * big.length) / Math.max(1e-3, streamMs - 2 * alphaMs) };
}

/** --echo: the far end of the link measurement. DATA is echoed; INIT frames are swallowed; STOP is answered. */
async function echo(): Promise<void> {
  const server = createServer((socket) => {
    const link = new FramedSocket(socket, 'bench', 0);
    void (async () => {
      for (;;) {
        const f = await link.read(0).catch(() => null);
        if (!f) return;
        if (f.type === FRAME.DATA) link.send(FRAME.DATA, f.payload);
        if (f.type === FRAME.STOP) link.send(FRAME.STOP, f.payload);
      }
    })();
  });
  server.listen(0, '127.0.0.1', () => console.log((server.address() as { port: number }).port));
}

export function tpBenchTable(r: TpBenchResult): string {
  const pm = (x: { predicted: number | null; measured: number | null }) =>
    `${fmt(x.predicted, 3)} / ${fmt(x.measured, 3)}`;
  return markdownTable(
    [
      { header: 'config', align: 'left' },
      { header: 'prefill tok/s' },
      { header: 'decode tok/s' },
      { header: 'all-reduced B/token' },
      { header: 'sent B/token' },
      { header: 'prefill comm ms/layer (pred / meas)' },
      { header: 'decode comm ms/layer (pred / meas)' },
    ],
    r.rows.map((row) => [
      row.config,
      fmt(row.prefillTokPerS, 0),
      fmt(row.decodeTokPerS, 0),
      fmt(row.allReducedBytesPerToken, 0),
      fmt(row.sentBytesPerToken, 0),
      pm(row.prefillCommMsPerLayer),
      pm(row.decodeCommMsPerLayer),
    ]),
  );
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      model: { type: 'string' },
      prompt: { type: 'string', default: '128' },
      decode: { type: 'string', default: '32' },
      repeats: { type: 'string', default: '3' },
      smoke: { type: 'boolean', default: false },
      echo: { type: 'boolean', default: false },
    },
  });
  if (values.echo) return echo();
  const smoke = values.smoke === true;
  const result = await runParallelTpBench({
    modelDir: values.model,
    promptTokens: smoke ? 16 : positiveInt('--prompt', values.prompt),
    decodeSteps: smoke ? 4 : positiveInt('--decode', values.decode),
    repeats: smoke ? 1 : positiveInt('--repeats', values.repeats),
  });
  console.log(`## Tensor parallelism: ${result.model} (${result.layers} layers, hidden ${result.hidden})\n`);
  console.log(machineLine(describeMachine()));
  console.log(
    `\nloopback link: α = ${fmt(result.link.alphaMs * 1000, 1)} µs one way, β = ${fmt(result.link.betaBytesPerMs / 1e6, 2)} GB/s\n`,
  );
  console.log(tpBenchTable(result));
  console.log(JSON.stringify(result));
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await main();
