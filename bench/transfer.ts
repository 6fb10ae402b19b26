/**
 * bench:transfer — how fast the transfer agent moves KV blocks between two processes on one host, next to
 * a plain memcpy of the same bytes: the question "what does disaggregation's KV hand-off cost?" answered
 * for our TCP and Unix-socket backends, the way `ib_read_bw` answers it for an RDMA link.
 *
 * A child process plays the prefill worker: it registers a SmolLM2-135M-shaped KV pool (30 layers, 3 KV
 * heads, head dim 64, 16-token blocks, f32 = 720 KiB per block) and serves it. This process plays the decode
 * worker: it READs 1, 16, 256 and 4,096 blocks (scattered ids on the owner, contiguous here, as a fresh
 * decode allocation would be) over TCP and over a Unix socket, and copies the same views in-process with
 * TypedArray.set for the memcpy baseline. Median of repeats; the last line is the headline ratio.
 *
 * Options: --blocks 1,16,256,4096  --repeats 3  --smoke (tiny, for CI)
 * Memory: the full run holds 3 pools of 4,096 blocks (2.8 GiB each): the owner's, ours and the memcpy source.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import {
  type AgentMetadata,
  blockBytes,
  blockViews,
  type KvRegion,
  StreamTransport,
  TransferAgent,
} from '../src/transfer/index.ts';
import { copyViews } from '../src/transfer/byte-copy.ts';
import { allocateRegion, SMOLLM2_135M_LAYOUT } from '../src/transfer/test-regions.ts';
import { median } from '../src/util/stats.ts';
import { fmt, markdownTable } from '../src/util/table.ts';
import { positiveInt, positiveIntList } from './lib/args.ts';
import { describeMachine, machineLine } from './lib/machine.ts';

const LAYOUT = SMOLLM2_135M_LAYOUT;
const TIMEOUT_MS = 300_000;

const { values } = parseArgs({
  options: {
    blocks: { type: 'string', default: '1,16,256,4096' },
    repeats: { type: 'string', default: '3' },
    smoke: { type: 'boolean', default: false },
    serve: { type: 'boolean', default: false },
    'pool-blocks': { type: 'string', default: '0' },
  },
});

/** Every block of every layer tensor holds its own value, so a misplaced block is caught. */
function blockValue(layer: number, kv: number, block: number): number {
  return (layer * 2 + kv) * 65_536 + block + 1;
}

function fillBlocks(region: KvRegion): void {
  const perBlock = blockBytes(LAYOUT) / LAYOUT.numLayers / 2 / 4;
  region.layers.forEach(({ k, v }, layer) => {
    [k, v].forEach((tensor, kv) => {
      const floats = tensor as Float32Array;
      for (let b = 0; b < region.numBlocks; b++)
        floats.subarray(b * perBlock, (b + 1) * perBlock).fill(blockValue(layer, kv, b));
    });
  });
}

/** --serve: the owner process. Prints its metadata, answers a 'report' notification with its counters. */
async function serve(poolBlocks: number): Promise<void> {
  const agent = new TransferAgent({
    name: 'bench-owner',
    transports: [new StreamTransport('tcp'), new StreamTransport('unix')],
    timeoutMs: TIMEOUT_MS,
  });
  const region = allocateRegion('kv', LAYOUT, poolBlocks);
  fillBlocks(region);
  agent.registerRegion(region);
  agent.onNotif((n) => {
    if (n.message === 'report') process.stdout.write(`${JSON.stringify({ counters: agent.counters() })}\n`);
  });
  process.stdout.write(`${JSON.stringify({ metadata: await agent.start() })}\n`);
  process.stdin.resume();
  process.stdin.on('end', () => void agent.close().then(() => process.exit(0))); // parent gone
}

/** The owner child and a reader of its JSON lines. */
function startOwner(poolBlocks: number): {
  child: ChildProcess;
  nextLine: () => Promise<Record<string, unknown>>;
} {
  const runTs = fileURLToPath(new URL('../bin/run-ts.mjs', import.meta.url));
  const child = spawn(
    process.execPath,
    [runTs, fileURLToPath(import.meta.url), '--serve', '--pool-blocks', String(poolBlocks)],
    {
      stdio: ['pipe', 'pipe', 'inherit'],
    },
  );
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream })[Symbol.asyncIterator]();
  return {
    child,
    nextLine: async () => {
      const { value, done } = await lines.next();
      if (done) throw new Error('the owner process exited before answering (see its stderr above)');
      return JSON.parse(value as string) as Record<string, unknown>;
    },
  };
}

async function timeMs(run: () => unknown | Promise<unknown>, repeats: number): Promise<number> {
  const times: number[] = [];
  for (let r = 0; r < repeats; r++) {
    const started = performance.now();
    await run();
    times.push(performance.now() - started);
  }
  return median(times);
}

function checkLanded(dest: KvRegion, localIds: number[], remoteIds: number[]): void {
  const perBlock = blockBytes(LAYOUT) / LAYOUT.numLayers / 2 / 4;
  for (const i of [0, localIds.length - 1]) {
    for (const layer of [0, LAYOUT.numLayers - 1]) {
      const v = dest.layers[layer]?.v as Float32Array;
      const got = v[(localIds[i] as number) * perBlock + perBlock - 1];
      const want = blockValue(layer, 1, remoteIds[i] as number);
      if (got !== want)
        throw new Error(
          `block ${localIds[i]} layer ${layer} V holds ${got}, expected ${want}: data corrupted`,
        );
    }
  }
}

async function main(): Promise<void> {
  const smoke = values.smoke as boolean;
  const sizes = smoke ? [1, 16, 64] : positiveIntList('blocks', values.blocks);
  const repeats = smoke ? 2 : positiveInt('repeats', values.repeats);
  const poolBlocks = Math.max(...sizes);
  const machine = describeMachine();

  const owner = startOwner(poolBlocks);
  const dest = allocateRegion('kv', LAYOUT, poolBlocks);
  const memcpySource = allocateRegion('kv', LAYOUT, poolBlocks);
  fillBlocks(memcpySource);
  const { metadata } = (await owner.nextLine()) as { metadata: AgentMetadata };
  const readers = (['tcp', 'unix'] as const).map((kind) => {
    const agent = new TransferAgent({
      name: `bench-reader-${kind}`,
      transports: [new StreamTransport(kind)],
      timeoutMs: TIMEOUT_MS,
    });
    agent.registerRegion(dest);
    agent.addRemoteAgent(metadata);
    return agent;
  });

  const rows: string[][] = [];
  const ratios = new Map<number, { tcp: number; unix: number }>();
  for (const n of sizes) {
    // 7 is coprime to any power-of-two pool: scattered, distinct owner ids; ours contiguous.
    const remoteIds = Array.from({ length: n }, (_, i) => (i * 7) % poolBlocks);
    const localIds = Array.from({ length: n }, (_, i) => i);
    const bytes = n * blockBytes(LAYOUT);
    const all = { start: 0, end: LAYOUT.numLayers };
    const src = blockViews(memcpySource, all, remoteIds);
    const dst = blockViews(dest, all, localIds);
    copyViews(src, dst); // warm: pages touched
    const memcpyMs = await timeMs(() => copyViews(src, dst), repeats);
    const desc = {
      localRegion: 'kv',
      remoteRegion: 'kv',
      localBlockIds: localIds,
      remoteBlockIds: remoteIds,
    };
    const transferMs: number[] = [];
    for (const reader of readers) {
      dest.layers.forEach(({ k, v }) => {
        (k as Float32Array).fill(0);
        (v as Float32Array).fill(0);
      });
      await reader.read(metadata.name, desc); // warm: connection open, pages touched
      checkLanded(dest, localIds, remoteIds);
      transferMs.push(await timeMs(() => reader.read(metadata.name, desc), repeats));
    }
    const gbps = (ms: number) => bytes / (ms / 1000) / 1e9;
    const [tcpMs, unixMs] = transferMs as [number, number];
    ratios.set(n, { tcp: gbps(tcpMs) / gbps(memcpyMs), unix: gbps(unixMs) / gbps(memcpyMs) });
    rows.push([
      String(n),
      fmt(bytes / 2 ** 20, 2),
      String(src.length),
      fmt(memcpyMs, 3),
      fmt(gbps(memcpyMs), 2),
      fmt(tcpMs, 3),
      fmt(gbps(tcpMs), 2),
      `${fmt(gbps(tcpMs) / gbps(memcpyMs), 2)}x`,
      fmt(unixMs, 3),
      fmt(gbps(unixMs), 2),
      `${fmt(gbps(unixMs) / gbps(memcpyMs), 2)}x`,
    ]);
  }

  await readers[0]?.sendNotif(metadata.name, 'report');
  const { counters: ownerCounters } = (await owner.nextLine()) as {
    counters: ReturnType<TransferAgent['counters']>;
  };
  owner.child.stdin?.end();
  await Promise.all(readers.map((r) => r.close()));

  const readerCopied = readers.reduce((s, r) => s + r.counters().userCopiedBytes, 0);
  const readerBytes = readers.reduce((s, r) => s + r.counters().bytesReceived, 0);
  console.log(`machine: ${machineLine(machine)}`);
  console.log(
    `layout:  SmolLM2-135M KV, ${LAYOUT.numLayers} layers × K/V × [${LAYOUT.blockSize} tokens][${LAYOUT.numKvHeads} KV heads][head dim ${LAYOUT.headDim}] ${LAYOUT.dtype} = ${blockBytes(LAYOUT)} bytes per block; READ by a second process, median of ${repeats}${smoke ? ' (smoke)' : ''}\n`,
  );
  console.log(
    markdownTable(
      [
        { header: 'blocks' },
        { header: 'MiB' },
        { header: 'views' },
        { header: 'memcpy ms' },
        { header: 'memcpy GB/s' },
        { header: 'tcp ms' },
        { header: 'tcp GB/s' },
        { header: 'tcp/memcpy' },
        { header: 'unix ms' },
        { header: 'unix GB/s' },
        { header: 'unix/memcpy' },
      ],
      rows,
    ),
  );
  console.log(
    `\ncopies per byte (READ, measured by the agents' counters): reader ${fmt(readerCopied / readerBytes, 2)} ` +
      `in user space (the kernel reads straight into the KV blocks), owner ${fmt(ownerCounters.userCopiedBytes / ownerCounters.bytesSent, 2)} ` +
      '(writev straight from its KV blocks); plus 2 kernel copies (owner blocks → socket buffer → reader blocks) on both tcp and unix. memcpy: 1.',
  );
  console.log('goal: ≥ 0.5x of memcpy for large transfers on one host');
  const largest = Math.max(...sizes);
  const r = ratios.get(largest) as { tcp: number; unix: number };
  console.log(
    `transfer vs memcpy: ${largest} blocks ${r.tcp.toFixed(2)}x (tcp), ${r.unix.toFixed(2)}x (unix)`,
  );
}

if (values.serve) await serve(positiveInt('pool-blocks', values['pool-blocks']));
else await main();
