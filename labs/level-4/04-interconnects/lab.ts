/**
 * Lab 4.4: interconnects ("InfiniBand verification", week 3 day 1). First the spec sheet: what real links
 * (10/25/100 GbE, RoCE, InfiniBand HDR/NDR, PCIe 4/5, NVLink 3/4) deliver, and what an 8k-token KV hand-off of
 * Llama-3-8B and 70B costs over each. Then why RDMA matters, measured: the bytes our transfer agent's kernel
 * copies and the syscalls it makes per byte of KV (/proc/self/io). Then emulated links: two nodes of
 * `dhw cluster` (network namespaces on a bridge) at several `tc tbf` rates, one with a user-space delay; for
 * each, predict iperf3's goodput, the round trip, a KV pull of a Llama-3-8B prompt and the TTFT penalty of
 * disaggregation, then measure them with iperf3, a one-byte echo and our agent. Like running `ibstat`, `ib_write_bw` and `ib_read_lat` before trusting a new fabric.
 *
 * The namespace part needs root (CI runs as root); without it the lab says why and skips that part.
 *
 *   npm run lab -- 4.4 [--links "1gbit 10gbit unshaped 1gbit,2ms"] [--tokens 1024]
 *
 * @expect /Bandwidth and latency of real interconnects/
 * @expect /NVLink 4 \(H100 SXM, 18 links\)/
 * @expect /user-space copies per byte: 0 \(reader\), 0 \(owner\)/
 * @expect /kernel copies per byte: 1\.0\d \(reader\), 1\.0\d \(owner\)/
 * @expect /(emulated links: predicted vs measured|namespace part skipped: .+)/
 * @expect Lab complete.
 */
import { formatBytes } from '../../../src/util/format.ts';
import { argValue, banner, formatMs, isSmoke, note, printTable, runLab, step } from '../../lib/lab-kit.ts';
import { type LinkSpec, transferMs } from '../../../src/util/link-spec.ts';
import { INTERCONNECTS, kvBytesForPrompt, kvBytesPerToken, MODEL_SHAPES } from './interconnects.ts';
import {
  behindDelayProxies,
  ownerDelta,
  type ProbeResult,
  probeLink,
  runIperf3,
  startKvOwner,
  whyNoIperf3,
} from './link-harness.ts';
import {
  type EmulatedLinkSpec,
  EmulatedNodes,
  type Endpoint,
  LOOPBACK,
  parseEmulatedLink,
  whyNoNodes,
} from './emulated-nodes.ts';
import { type Link, predictPullMs, tcpGoodputGbps } from './reference.ts';

const BLOCK_TOKENS = 16;
const TBF_FRAMING = 14;
const [SMOLLM2, LLAMA8B, LLAMA70B] = MODEL_SHAPES as [
  (typeof MODEL_SHAPES)[0],
  (typeof MODEL_SHAPES)[0],
  (typeof MODEL_SHAPES)[0],
];
const gbps = (bitsPerSecond: number) => bitsPerSecond / 1e9;
const r2 = (x: number) => +x.toFixed(2);

interface Plan {
  blocks: number;
  repeats: number;
  iperfSeconds: number;
}

interface Measured {
  probe: ProbeResult;
  /** The owner's kernel copies and syscalls over the probe's timed READs. */
  owner: ReturnType<typeof ownerDelta>;
  iperf3Gbps?: number;
}

/**
 * Starts an owner at `server` (behind delay proxies when `delayMs` > 0), probes it from `client`, and runs
 * iperf3 between the two if installed (directly: iperf3 measures the rate, which a delay does not change).
 */
async function measure(server: Endpoint, client: Endpoint, plan: Plan, delayMs = 0): Promise<Measured> {
  const owner = await startKvOwner(server, plan.blocks);
  let probe: ProbeResult;
  try {
    const proxied = delayMs > 0 ? await behindDelayProxies(owner, server, delayMs) : undefined;
    try {
      const options = { blocks: plan.blocks, repeats: plan.repeats, rounds: 200 };
      probe = await probeLink(client, proxied ?? owner, options);
    } finally {
      proxied?.stopProxies();
    }
    await owner.waitForReports(2);
  } finally {
    await owner.stop();
  }
  const copies = ownerDelta(owner);
  if (whyNoIperf3()) return { probe, owner: copies };
  const iperf = await runIperf3(server, client, plan.iperfSeconds, plan.iperfSeconds > 1 ? 1 : 0);
  return { probe, owner: copies, iperf3Gbps: iperf.gbitPerSecond };
}

const agentGbps = (p: ProbeResult) => (p.bytes * 8) / (p.readMs / 1000) / 1e9;

/**
 * The reference's pull (2 × latency + bytes / goodput), with one more bound: our agent cannot move bytes faster
 * between nodes than it did over loopback on this host (the CPUs, not the link, are the limit there).
 */
function predictAgentPullMs(bytes: number, link: Link, goodputGbps: number, hostGbps: number): number {
  if (goodputGbps <= hostGbps && link.framingBytes > 0) return predictPullMs(bytes, link);
  return (2 * link.latencyUs) / 1000 + ((bytes * 8) / (Math.min(goodputGbps, hostGbps) * 1e9)) * 1000;
}

function printRealInterconnects(): void {
  step('Bandwidth and latency of real interconnects (one direction; sources in docs/interconnects.md)');
  printTable(
    ['interconnect', 'path', 'Gbit/s', 'GB/s', 'latency µs', 'latency is'],
    INTERCONNECTS.map((i) => [
      i.name,
      i.path,
      i.gbitPerSecond,
      r2(i.gbitPerSecond / 8),
      i.latencyUs,
      i.latencyBasis.startsWith('published') ? 'published' : 'assumed',
    ]),
  );
  note('NVIDIA\'s "900 GB/s" for NVLink 4 and "128 GB/s" for PCIe 5 add both directions: one way is half.');
}

function printHandoffPredictions(): void {
  step('Predict on paper: an 8,192-token prompt handed from prefill to decode over each of them');
  for (const m of MODEL_SHAPES)
    note(
      `${m.name}: ${formatBytes(kvBytesPerToken(m))} of KV per token → ${formatBytes(kvBytesForPrompt(m, 8192))}`,
    );
  printTable(
    ['interconnect', 'Llama-3-8B ms', 'Llama-3-70B ms'],
    INTERCONNECTS.map((i) => {
      const link: LinkSpec = { bytesPerSecond: (i.gbitPerSecond * 1e9) / 8, latencyMs: i.latencyUs / 1000 };
      return [
        i.name,
        r2(transferMs(link, kvBytesForPrompt(LLAMA8B, 8192))),
        r2(transferMs(link, kvBytesForPrompt(LLAMA70B, 8192))),
      ];
    }),
  );
  note(
    "latency + bytes × 8 / line rate (lab 4.1's predictTransferMs = util/link-spec.ts's transferMs); on TCP rows ~6 % less.",
  );
  note(
    'One decode step of a 70B model on H100s is tens of ms: over 25 GbE the hand-off costs dozens of them.',
  );
}

function printCopies({ probe, owner }: Measured): void {
  const moved = probe.bytes * probe.timedReads.count;
  const mib = moved / 2 ** 20;
  note(
    `${probe.timedReads.count} READs of ${formatBytes(probe.bytes)} over loopback TCP; /proc/self/io of each process:`,
  );
  note(
    `user-space copies per byte: ${probe.timedReads.userCopiedBytes / moved} (reader), ${owner.userCopiedBytes / moved} (owner)`,
  );
  note(
    `kernel copies per byte: ${(probe.timedReads.rchar / moved).toFixed(2)} (reader), ${(owner.wchar / moved).toFixed(2)} (owner)`,
  );
  printTable(
    ['path', 'user copies/B', 'kernel copies/B', 'syscalls per MiB (data path)'],
    [
      [
        'our agent, TCP/Unix',
        0,
        2,
        `${r2(probe.timedReads.syscr / mib)} read (reader) + ${r2(owner.syscw / mib)} writev (owner), measured`,
      ],
      ['iperf3 (default)', 0, 2, 'one read/write per 128 KiB buffer: 8 + 8'],
      ['RDMA READ (IB, RoCE)', 0, 0, '0: the NIC DMAs from registered memory; completions are polled'],
      ['NVLink / PCIe peer copy', 0, 0, '0: a GPU copy engine (cudaMemcpyPeer), no CPU on the data path'],
    ],
  );
  note(
    'The kernel copies each byte twice (owner → socket buffer, socket buffer → reader) and every syscall is a',
  );
  note('kernel crossing; at 2 × memcpy per byte a CPU socket path tops out near half of memcpy (lab 4.1).');
}

/** One emulated link: shape it, predict from the loopback run, then measure; one row of the final table. */
async function emulatedLinkRow(
  nodes: EmulatedNodes,
  spec: EmulatedLinkSpec,
  loop: Measured,
  plan: Plan,
  tokens: number,
): Promise<(string | number)[]> {
  await nodes.shape(spec);
  const shaped = spec.rateBitsPerSecond !== undefined;
  note(
    `${spec.text}: ${shaped ? await nodes.describe() : 'no qdisc: the links run as fast as the CPUs move bytes'}` +
      (spec.delayMs > 0 ? `; + ${spec.delayMs} ms each way by a delay proxy in front of the owner` : ''),
  );
  // Prediction, before measuring. A shaped link is loopback with a token bucket; an unshaped one is loopback;
  // a delay proxy is one more local TCP hop plus its delay.
  const loopOneWayUs = loop.probe.rttUs / 2;
  const link: Link = {
    lineRateGbps: shaped
      ? gbps(spec.rateBitsPerSecond as number)
      : (loop.iperf3Gbps ?? agentGbps(loop.probe)),
    mtu: 1500,
    framingBytes: shaped ? TBF_FRAMING : 0,
    latencyUs: spec.delayMs > 0 ? 2 * loopOneWayUs + spec.delayMs * 1000 : loopOneWayUs,
  };
  const goodput = shaped ? tcpGoodputGbps(link) : link.lineRateGbps;
  // iperf3 is bounded the same way: by the token bucket, or by what this host did over loopback.
  const iperf3Predicted = Math.min(goodput, loop.iperf3Gbps ?? Number.POSITIVE_INFINITY);
  const pull = (b: number) => predictAgentPullMs(b, link, goodput, agentGbps(loop.probe));
  const bytes = plan.blocks * BLOCK_TOKENS * kvBytesPerToken(LLAMA8B);
  const { probe, iperf3Gbps } = await measure(nodes.b, nodes.a, plan, spec.delayMs);
  return [
    spec.text,
    r2(iperf3Predicted),
    iperf3Gbps === undefined ? 'no iperf3' : r2(iperf3Gbps),
    r2(agentGbps(probe)),
    r2(2 * link.latencyUs),
    r2(probe.rttUs),
    r2(pull(bytes)),
    r2(probe.readMs),
    r2((2 * link.latencyUs) / 1000 + pull(bytes)),
    r2(probe.rttUs / 1000 + probe.readMs),
    r2(pull(kvBytesForPrompt(LLAMA70B, tokens))),
    r2(probe.timedReads.syscr / ((probe.bytes * probe.timedReads.count) / 2 ** 20)),
  ];
}

async function main(): Promise<void> {
  banner('4.4', 'Interconnects: InfiniBand verification, emulated');
  const smoke = isSmoke();
  // Link specs are separated by spaces, because one spec may hold a comma: "1gbit,2ms".
  const links = (argValue('links') ?? (smoke ? '1gbit unshaped' : '1gbit 10gbit unshaped 1gbit,2ms'))
    .split(/\s+/)
    .filter(Boolean)
    .map(parseEmulatedLink); // bad input fails here, before any work
  const tokens = Number(argValue('tokens') ?? (smoke ? 256 : 1024));
  const blocks = Math.ceil(tokens / BLOCK_TOKENS);
  const plan = { blocks, repeats: smoke ? 2 : 3, iperfSeconds: smoke ? 1 : 3 };

  printRealInterconnects();
  printHandoffPredictions();

  step(
    `Why RDMA matters: count the copies. Our agent READs a ${tokens}-token Llama-3-8B prompt over loopback`,
  );
  const loop = await measure(LOOPBACK, LOOPBACK, plan);
  printCopies(loop);
  const loopOneWayUs = loop.probe.rttUs / 2;
  note(
    `loopback: echo round trip ${loop.probe.rttUs.toFixed(0)} µs, agent ${r2(agentGbps(loop.probe))} Gbit/s` +
      (loop.iperf3Gbps === undefined ? `; ${whyNoIperf3()}` : `, iperf3 ${r2(loop.iperf3Gbps)} Gbit/s`),
  );

  step(
    `Emulated links: two nodes (dhw cluster: namespaces on a bridge), tc tbf at ${links.map((l) => l.text).join(' | ')}`,
  );
  const why = await whyNoNodes();
  if (why) {
    note(`namespace part skipped: ${why}`);
    return;
  }
  let nodes: EmulatedNodes;
  try {
    nodes = await EmulatedNodes.create();
  } catch (err) {
    note(`namespace part skipped: ${(err as Error).message}`);
    return;
  }
  const rows: (string | number)[][] = [];
  try {
    note(
      `nodes: ${nodes.a.label} (${nodes.a.address}, the decode side) ↔ ${nodes.b.label} (${nodes.b.address}, owns the KV)`,
    );
    for (const link of links) rows.push(await emulatedLinkRow(nodes, link, loop, plan, tokens));
  } finally {
    await nodes.destroy();
  }
  note(
    `emulated links: predicted vs measured (Llama-3-8B, ${tokens} tokens = ${formatBytes(blocks * BLOCK_TOKENS * kvBytesPerToken(LLAMA8B))} of KV)`,
  );
  printTable(
    [
      'link',
      'pred Gbit/s',
      'iperf3 Gbit/s',
      'agent Gbit/s',
      'pred RTT µs',
      'RTT µs',
      'pred pull ms',
      'pull ms',
      'pred TTFT+ ms',
      'TTFT+ ms',
      '70B pull ms (pred)',
      'reads/MiB',
    ],
    rows,
  );
  note('TTFT+ = the round trip to the prefill worker + the KV pull (measured: echo RTT + agent READ).');
  note(
    "reads/MiB = the reader's read(2) calls per MiB pulled: each is a kernel crossing and an event-loop turn.",
  );
  note(
    `SmolLM2-135M (our engine, f32) moves ${formatBytes(kvBytesPerToken(SMOLLM2))} per token: ${formatMs(
      predictPullMs(kvBytesForPrompt(SMOLLM2, tokens), {
        lineRateGbps: 1,
        mtu: 1500,
        framingBytes: TBF_FRAMING,
        latencyUs: loopOneWayUs,
      }),
    )} for ${tokens} tokens at 1 Gbit/s.`,
  );
}

runLab(
  main,
  'Needs iperf3 (sudo apt-get install -y iperf3) and root for the namespace part. Then: npm run lab -- 4.4 --smoke',
);
