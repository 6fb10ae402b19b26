/**
 * bench:transfer — how fast the transfer agent moves KV blocks between two processes on one host, next to
 * a plain memcpy of the same bytes: the question "what does disaggregation's KV hand-off cost?" answered
 * for our TCP and Unix-socket backends, the way `ib_read_bw` answers it for an RDMA link.
 *
 * A child process plays the prefill worker: it registers a SmolLM2-135M-shaped KV pool (30 layers, 3 KV
 * heads, head dim 64, 16-token blocks, f32 = 720 KiB per block) and serves it. This process plays the decode
 * worker: it READs 1, 16, 256 and 4,096 blocks (scattered ids on the owner, contiguous here, as a fresh
 * decode allocation would be) over TCP, over a Unix socket and through shared memory (shm-transport.ts:
 * the owner staged its pool into a /dev/shm mirror after filling it, as a prefill worker stages a
 * request's blocks once computed; then again with nothing staged, so the owner stages during the READ),
 * and copies the same views in-process with TypedArray.set for the memcpy baseline. Median of repeats;
 * the last line is the headline ratio.
 *
 * Options: --blocks 1,16,256,4096  --repeats 3  --smoke (tiny, for CI)
 * Memory: the full run holds 4 pools of 4,096 blocks (2.8 GiB each): the owner's, its /dev/shm mirror (or
 * the scratch file of an unstaged READ), ours and the memcpy source.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { copyViews } from '../src/transfer/byte-copy.ts';
import {
  type AgentMetadata,
  blockBytes,
  blockViews,
  type KvRegion,
  ShmTransport,
  StreamTransport,
  TransferAgent,
} from '../src/transfer/index.ts';
import { allocateRegion, SMOLLM2_135M_LAYOUT } from '../src/transfer/test-regions.ts';
import { median } from '../src/util/stats.ts';
import { fmt, markdownTable } from '../src/util/table.ts';
import { positiveInt, positiveIntList } from './lib/args.ts';
import { describeMachine, machineLine } from './lib/machine.ts';
import { procCpuSeconds } from './lib/proc-cpu.ts';

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

/**
 * --serve: the owner process. Prints its metadata once it has filled and staged its pool; answers the
 * notifications 'report' (its counters) and 'unstage' (drop the shm mirror) with a line.
 */
async function serve(poolBlocks: number): Promise<void> {
  const agent = new TransferAgent({
    name: 'bench-owner',
    transports: [new StreamTransport('tcp'), new StreamTransport('unix'), new ShmTransport()],
    timeoutMs: TIMEOUT_MS,
  });
  const region = allocateRegion('kv', LAYOUT, poolBlocks);
  fillBlocks(region);
  agent.registerRegion(region);
  const all = Array.from({ length: poolBlocks }, (_, i) => i);
  const stage = async () => {
    const started = performance.now();
    await agent.stageBlocks('kv', all);
    return performance.now() - started;
  };
  const answer = (line: object) => process.stdout.write(`${JSON.stringify(line)}\n`);
  agent.onNotif((n) => {
    if (n.message === 'report') answer({ counters: agent.counters() });
    if (n.message === 'unstage') {
      agent.unstageBlocks('kv', all);
      answer({ unstaged: true });
    }
  });
  const metadata = await agent.start();
  const stagedMs = await stage();
  answer({ metadata, stagedMs });
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

/** CPU time (user + system, all threads) a process has used (ms; 10 ms ticks). */
const processCpuMs = (pid: number): number => procCpuSeconds(`/proc/${pid}/stat`) * 1000;

interface Timing {
  /** Median wall time of one run. */
  ms: number;
  /** Mean CPU time of one run: this process plus `otherPid` (the owner), every thread (kernel copies too). */
  cpuMs: number;
}

async function timed(
  run: () => unknown | Promise<unknown>,
  repeats: number,
  otherPid?: number,
): Promise<Timing> {
  const times: number[] = [];
  const cpu = () => processCpuMs(process.pid) + (otherPid === undefined ? 0 : processCpuMs(otherPid));
  const cpuBefore = cpu();
  for (let r = 0; r < repeats; r++) {
    const started = performance.now();
    await run();
    times.push(performance.now() - started);
  }
  return { ms: median(times), cpuMs: (cpu() - cpuBefore) / repeats };
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

type Kind = 'tcp' | 'unix' | 'shm';
const KINDS: readonly Kind[] = ['tcp', 'unix', 'shm'];

function readerAgent(kind: Kind, dest: KvRegion, metadata: AgentMetadata): TransferAgent {
  const agent = new TransferAgent({
    name: `bench-reader-${kind}`,
    transports: [kind === 'shm' ? new ShmTransport() : new StreamTransport(kind)],
    timeoutMs: TIMEOUT_MS,
  });
  agent.registerRegion(dest);
  agent.addRemoteAgent(metadata);
  return agent;
}

function clear(region: KvRegion): void {
  for (const { k, v } of region.layers) {
    (k as Float32Array).fill(0);
    (v as Float32Array).fill(0);
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
  const { metadata, stagedMs } = (await owner.nextLine()) as { metadata: AgentMetadata; stagedMs: number };
  const readers = new Map(KINDS.map((kind) => [kind, readerAgent(kind, dest, metadata)]));
  const shm = readers.get('shm') as TransferAgent;
  /** Ask the owner to drop its mirror, and wait for its answer line. */
  const ownerDoes = async (what: 'unstage') => {
    await shm.sendNotif(metadata.name, what);
    return (await owner.nextLine()) as { stagedMs?: number };
  };

  interface SizePoint {
    n: number;
    views: number;
    memcpy: Timing;
    staged: Record<Kind, Timing>;
    unstaged?: Timing;
  }
  const ownerPid = owner.child.pid as number;
  const points: SizePoint[] = [];
  const descFor = (n: number) => {
    // 7 is coprime to any power-of-two pool: scattered, distinct owner ids; ours contiguous.
    const remoteIds = Array.from({ length: n }, (_, i) => (i * 7) % poolBlocks);
    const localIds = Array.from({ length: n }, (_, i) => i);
    return { localRegion: 'kv', remoteRegion: 'kv', localBlockIds: localIds, remoteBlockIds: remoteIds };
  };
  const measure = async (reader: TransferAgent, n: number) => {
    const desc = descFor(n);
    clear(dest);
    await reader.read(metadata.name, desc); // warm: connection open, pages touched
    checkLanded(dest, desc.localBlockIds, desc.remoteBlockIds);
    return timed(() => reader.read(metadata.name, desc), repeats, ownerPid);
  };
  for (const n of sizes) {
    const { localBlockIds, remoteBlockIds } = descFor(n);
    const all = { start: 0, end: LAYOUT.numLayers };
    const src = blockViews(memcpySource, all, remoteBlockIds);
    const dst = blockViews(dest, all, localBlockIds);
    copyViews(src, dst); // warm: pages touched
    const memcpy = await timed(() => copyViews(src, dst), repeats);
    const staged = {} as Record<Kind, Timing>;
    for (const kind of KINDS) staged[kind] = await measure(readers.get(kind) as TransferAgent, n);
    points.push({ n, views: src.length, memcpy, staged });
  }
  // The same READs with nothing staged: the owner copies into a scratch file during each (2 copies on the path).
  await ownerDoes('unstage');
  for (const point of points) point.unstaged = await measure(shm, point.n);

  const rows: string[][] = [];
  const cpuRows: string[][] = [];
  const ratios = new Map<number, Record<Kind, number>>();
  for (const { n, views, memcpy, staged, unstaged } of points) {
    const bytes = n * blockBytes(LAYOUT);
    const gbps = (t: number) => bytes / (t / 1000) / 1e9;
    const ratio = (t: Timing) => memcpy.ms / t.ms;
    const cpuRatio = (t: Timing) => (t.cpuMs > 0 ? `${fmt(memcpy.cpuMs / t.cpuMs, 2)}x` : '-');
    ratios.set(n, { tcp: ratio(staged.tcp), unix: ratio(staged.unix), shm: ratio(staged.shm) });
    const on = unstaged as Timing;
    rows.push([
      String(n),
      fmt(bytes / 2 ** 20, 2),
      String(views),
      fmt(memcpy.ms, 3),
      fmt(gbps(memcpy.ms), 2),
      ...KINDS.flatMap((kind) => [
        fmt(staged[kind].ms, 3),
        fmt(gbps(staged[kind].ms), 2),
        `${fmt(ratio(staged[kind]), 2)}x`,
      ]),
      fmt(on.ms, 3),
      `${fmt(ratio(on), 2)}x`,
    ]);
    cpuRows.push([
      `${n} blocks`,
      fmt(memcpy.cpuMs, 0),
      ...KINDS.flatMap((kind) => [fmt(staged[kind].cpuMs, 0), cpuRatio(staged[kind])]),
      fmt(on.cpuMs, 0),
      cpuRatio(on),
    ]);
  }

  await shm.sendNotif(metadata.name, 'report');
  const { counters: ownerCounters } = (await owner.nextLine()) as {
    counters: ReturnType<TransferAgent['counters']>;
  };
  owner.child.stdin?.end();
  const readerCounters = new Map([...readers].map(([kind, r]) => [kind, r.counters()]));
  await Promise.all([...readers.values()].map((r) => r.close()));

  const streamCopied = (['tcp', 'unix'] as const).reduce(
    (s, k) => s + (readerCounters.get(k)?.userCopiedBytes ?? 0),
    0,
  );
  const streamBytes = (['tcp', 'unix'] as const).reduce(
    (s, k) => s + (readerCounters.get(k)?.bytesReceived ?? 0),
    0,
  );
  const shmCounters = readerCounters.get('shm') as ReturnType<TransferAgent['counters']>;
  const poolBytes = poolBlocks * blockBytes(LAYOUT);
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
        ...KINDS.flatMap((kind) => [
          { header: `${kind} ms` },
          { header: `${kind} GB/s` },
          { header: `${kind}/memcpy` },
        ]),
        { header: 'shm unstaged ms' },
        { header: 'shm unstaged/memcpy' },
      ],
      rows,
    ),
  );
  console.log(
    '\nCPU time per READ (ms, mean of the repeats, from /proc: reader + owner process, every thread, kernel ' +
      'copies included; the load-independent view of the same runs) and memcpy CPU ÷ transfer CPU:\n',
  );
  console.log(
    markdownTable(
      [
        { header: 'size' },
        { header: 'memcpy cpu' },
        ...KINDS.flatMap((kind) => [{ header: `${kind} cpu` }, { header: `memcpy/${kind}` }]),
        { header: 'shm unstaged cpu' },
        { header: 'memcpy/shm unstaged' },
      ],
      cpuRows,
    ),
  );
  console.log(
    `\ncopies per byte (READ, measured by the agents' counters): reader ${fmt(streamCopied / streamBytes, 2)} ` +
      `in user space (the kernel reads straight into the KV blocks), owner ${fmt(ownerCounters.userCopiedBytes / ownerCounters.bytesSent, 2)} ` +
      '(writev straight from its KV blocks); plus 2 kernel copies (owner blocks → socket buffer → reader blocks) on both tcp and unix. memcpy: 1.',
  );
  console.log(
    `shm: reader ${fmt(shmCounters.userCopiedBytes / shmCounters.bytesReceived, 2)} in user space and 1 kernel copy (mirror → reader blocks, preadv) on the READ's path; ` +
      `the owner staged its ${fmt(poolBytes / 2 ** 20, 0)} MiB pool into the mirror before the READs (1 kernel copy per byte, pwritev, off the path: ${fmt(stagedMs, 0)} ms, ` +
      `${fmt(poolBytes / (stagedMs / 1000) / 1e9, 2)} GB/s; ${fmt(ownerCounters.stagedAheadBytes / 2 ** 20, 0)} MiB staged ahead in all). ` +
      `Unstaged: the owner stages during the READ (${fmt(ownerCounters.stagedOnReadBytes / 2 ** 20, 0)} MiB): 2 kernel copies on the path.`,
  );
  console.log('goal: ≥ 0.5x of memcpy for large transfers on one host');
  const largest = Math.max(...sizes);
  const r = ratios.get(largest) as Record<Kind, number>;
  console.log(
    `transfer vs memcpy: ${largest} blocks ${r.tcp.toFixed(2)}x (tcp), ${r.unix.toFixed(2)}x (unix), ${r.shm.toFixed(2)}x (shm, staged ahead)`,
  );
}

if (values.serve) await serve(positiveInt('pool-blocks', values['pool-blocks']));
else await main();
