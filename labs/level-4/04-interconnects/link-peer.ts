/**
 * Lab 4.4's peer process, started at each end of a link (on the host for loopback, or inside a network
 * namespace with `ip netns exec`). Two modes, like `ib_read_bw` / `qperf`'s server and client halves:
 *
 *   serve --host ADDR --model llama-3-8b --blocks N
 *       a transfer agent on TCP at ADDR owning a KV pool of the model's layout (bf16 Llama-3-8B: 2 MiB per
 *       16-token block) plus a one-block "tiny" region, and a TCP echo server for round trips. Prints
 *       {ready: {metadata, echoPort}}; after every READ that carries notif "report" it prints
 *       {report: {io, userCopiedBytes}} (its /proc/self/io: what the kernel copied for it), so the lab can
 *       subtract the report after the warm-up READ from the one after the last timed READ.
 *   probe --peer BASE64(metadata) --echo HOST:PORT --blocks N --repeats R --rounds K
 *       times K one-byte echo round trips, R READs of the tiny region (the agent's own latency) and R READs
 *       of N blocks (bandwidth), checks the bytes, and prints {result: {...}} with its own /proc/self/io delta
 *       over the timed READs.
 *
 * Both exit when stdin closes (the lab is gone), so nothing outlives the lab inside a namespace.
 */
import { readFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { parseArgs } from 'node:util';
import {
  type AgentMetadata,
  blockBytes,
  type KvLayout,
  type KvRegion,
  StreamTransport,
  TransferAgent,
} from '../../../src/transfer/index.ts';
import { allocateRegion, TINY_LAYOUT } from '../../../src/transfer/test-regions.ts';
import { median } from '../../../src/util/stats.ts';

/** Llama-3-8B's KV layout as a GPU engine stores it: 32 layers, 8 KV heads × 128, bf16, 16-token blocks. */
export const LLAMA3_8B_LAYOUT: KvLayout = {
  numLayers: 32,
  blockSize: 16,
  numKvHeads: 8,
  headDim: 128,
  dtype: 'bf16',
};
const TIMEOUT_MS = 300_000;

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: {
    host: { type: 'string', default: '127.0.0.1' },
    blocks: { type: 'string', default: '64' },
    peer: { type: 'string' },
    echo: { type: 'string' },
    repeats: { type: 'string', default: '3' },
    rounds: { type: 'string', default: '200' },
  },
});

const emit = (line: unknown) => process.stdout.write(`${JSON.stringify(line)}\n`);

/** /proc/self/io: bytes and calls through read(2)/write(2)-family syscalls, i.e. what the kernel copied. */
function procIo(): Record<string, number> {
  const io: Record<string, number> = {};
  for (const line of readFileSync('/proc/self/io', 'utf8').trim().split('\n')) {
    const [key, value] = line.split(':');
    io[key as string] = Number(value);
  }
  return io;
}

/** A bf16 pool (16-bit words): every block of every layer's K and V holds its own value. */
function bf16Region(name: string, blocks: number, fill: boolean): KvRegion {
  const words = (blockBytes(LLAMA3_8B_LAYOUT) / LLAMA3_8B_LAYOUT.numLayers / 2 / 2) * blocks;
  const perBlock = words / blocks;
  const layers = Array.from({ length: LLAMA3_8B_LAYOUT.numLayers }, (_, layer) => {
    const [k, v] = [new Uint16Array(words), new Uint16Array(words)];
    if (fill)
      for (let b = 0; b < blocks; b++) {
        k.fill(blockWord(layer, 0, b), b * perBlock, (b + 1) * perBlock);
        v.fill(blockWord(layer, 1, b), b * perBlock, (b + 1) * perBlock);
      }
    return { k, v };
  });
  return { name, layout: LLAMA3_8B_LAYOUT, numBlocks: blocks, layers };
}

const blockWord = (layer: number, kv: number, block: number) => (layer * 2 + kv) * 512 + (block % 512) + 1;

async function serve(): Promise<void> {
  const blocks = Number(values.blocks);
  const host = values.host as string;
  const agent = new TransferAgent({
    name: 'link-owner',
    transports: [new StreamTransport('tcp', { host })],
    timeoutMs: TIMEOUT_MS,
  });
  agent.registerRegion(bf16Region('kv', blocks, true));
  agent.registerRegion(allocateRegion('tiny', TINY_LAYOUT, 1));
  agent.onNotif((n) => {
    if (n.message === 'report') emit({ report: { io: procIo(), ...agent.counters() } });
  });
  const echo = createServer((socket) => {
    socket.setNoDelay(true);
    socket.on('data', (chunk) => socket.write(chunk));
    socket.on('error', () => socket.destroy());
  });
  await new Promise<void>((resolve) => echo.listen(0, host, () => resolve()));
  const address = echo.address();
  const echoPort = typeof address === 'object' && address ? address.port : 0;
  emit({ ready: { metadata: await agent.start(), echoPort } });
  process.stdin.resume();
  process.stdin.on('end', () => void agent.close().then(() => process.exit(0)));
}

/** Median one-byte round trip over a fresh TCP connection (after one warm-up), in microseconds. */
async function echoRoundTrips(target: string, rounds: number): Promise<number[]> {
  const [host, port] = [
    target.slice(0, target.lastIndexOf(':')),
    Number(target.slice(target.lastIndexOf(':') + 1)),
  ];
  const socket = connect({ host, port });
  socket.setNoDelay(true);
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  const times: number[] = [];
  const one = Buffer.from([42]);
  for (let i = 0; i <= rounds; i++) {
    const started = performance.now();
    await new Promise<void>((resolve) => {
      socket.once('data', () => resolve());
      socket.write(one);
    });
    if (i > 0) times.push((performance.now() - started) * 1000);
  }
  socket.destroy();
  return times;
}

async function probe(): Promise<void> {
  const peer = JSON.parse(Buffer.from(values.peer as string, 'base64').toString('utf8')) as AgentMetadata;
  const blocks = Number(values.blocks);
  const repeats = Number(values.repeats);
  const rtt = await echoRoundTrips(values.echo as string, Number(values.rounds));
  const agent = new TransferAgent({
    name: 'link-reader',
    transports: [new StreamTransport('tcp')],
    timeoutMs: TIMEOUT_MS,
  });
  const dest = bf16Region('kv', blocks, false);
  agent.registerRegion(dest);
  agent.registerRegion(allocateRegion('tiny', TINY_LAYOUT, 1));
  agent.addRemoteAgent(peer);
  const tinyDesc = { localRegion: 'tiny', remoteRegion: 'tiny', localBlockIds: [0], remoteBlockIds: [0] };
  await agent.read(peer.name, tinyDesc); // dials the data connection: a worker's pool is already warm
  const tiny: number[] = [];
  for (let r = 0; r < Math.max(repeats, 20); r++) tiny.push((await agent.read(peer.name, tinyDesc)).ms);
  // The owner's ids newest-first (a block table after churn), ours contiguous (a fresh allocation).
  const ids = {
    localBlockIds: Array.from({ length: blocks }, (_, i) => i),
    remoteBlockIds: Array.from({ length: blocks }, (_, i) => blocks - 1 - i),
  };
  const desc = { localRegion: 'kv', remoteRegion: 'kv', ...ids, notif: 'report' };
  await agent.read(peer.name, desc); // warm-up; its notif gives the owner's "before" report
  const times: number[] = [];
  const ioBefore = procIo();
  const copiedBefore = agent.counters().userCopiedBytes;
  let bytes = 0;
  for (let r = 0; r < repeats; r++) {
    const result = await agent.read(peer.name, { ...desc, notif: r === repeats - 1 ? 'report' : undefined });
    times.push(result.ms);
    bytes = result.bytes;
  }
  const ioAfter = procIo();
  const bad = firstMismatch(dest, ids.remoteBlockIds);
  if (bad) throw new Error(`data corrupted over the link: ${bad}`);
  emit({
    result: {
      rttUs: median(rtt),
      tinyMs: median(tiny),
      blocks,
      bytes,
      readMs: median(times),
      spread: Math.max(...times) / Math.min(...times),
      timedReads: {
        count: repeats,
        syscr: ioAfter.syscr - ioBefore.syscr,
        rchar: ioAfter.rchar - ioBefore.rchar,
        userCopiedBytes: agent.counters().userCopiedBytes - copiedBefore,
      },
    },
  });
  await agent.close();
}

/** Every block's first and last word per layer, K and V, equal the owner's value for the block it came from. */
function firstMismatch(dest: KvRegion, remoteBlockIds: number[]): string | undefined {
  const perBlock = blockBytes(LLAMA3_8B_LAYOUT) / LLAMA3_8B_LAYOUT.numLayers / 4;
  for (let layer = 0; layer < LLAMA3_8B_LAYOUT.numLayers; layer++) {
    const { k, v } = dest.layers[layer] as { k: Uint16Array; v: Uint16Array };
    for (const [kv, words] of [[0, k] as const, [1, v] as const]) {
      for (let i = 0; i < remoteBlockIds.length; i++) {
        const want = blockWord(layer, kv, remoteBlockIds[i] as number);
        for (const at of [i * perBlock, (i + 1) * perBlock - 1])
          if (words[at] !== want)
            return `layer ${layer} ${kv ? 'V' : 'K'} block ${i}: ${words[at]} ≠ ${want}`;
      }
    }
  }
  return undefined;
}

const mode = positionals[0];
(mode === 'serve'
  ? serve()
  : mode === 'probe'
    ? probe()
    : Promise.reject(new Error('mode: serve | probe'))
).catch((err: Error) => {
  process.stderr.write(`link-peer ${mode} failed: ${err.name}: ${err.message}\n`);
  process.exit(1);
});
