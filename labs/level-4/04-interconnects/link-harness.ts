/**
 * Lab 4.4's measurement harness: given two endpoints (an address each and how to run a command there: on the
 * host for loopback, `ip netns exec NAME` for an emulated node, later `dhw cluster run NODE --`), measure the
 * link between them three ways:
 *
 *   - iperf3 (Debian's, the standard tool): TCP goodput from b to a (`-R`: the server sends, as a KV owner does);
 *   - a one-byte TCP echo: round-trip latency of the two kernel stacks and the wire (what `ping` would add up);
 *   - our transfer agent (src/transfer): READs of a Llama-3-8B-shaped KV pool owned at b, pulled from a.
 *
 * Like running `ib_write_bw` and `ib_read_lat` between two hosts before trusting a fabric. `behindDelayProxies`
 * puts `dhw cluster delay-proxy` (a TCP relay holding each chunk for a fixed time) in front of an owner, the
 * user-space latency of a "RATE,LATENCY" link on a kernel without netem.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { AgentMetadata } from '../../../src/transfer/index.ts';
import { repoRoot } from '../../../src/util/paths.ts';
import type { Endpoint } from './emulated-nodes.ts';

const PEER_SCRIPT = join(repoRoot, 'labs', 'level-4', '04-interconnects', 'link-peer.ts');
const RUN_TS = join(repoRoot, 'bin', 'run-ts.mjs');
const DHW = join(repoRoot, 'bin', 'dhw.mjs');

/** undefined when iperf3 runs here; otherwise what to install. */
export function whyNoIperf3(): string | undefined {
  const probe = spawnSync('iperf3', ['--version'], { stdio: 'ignore' });
  return probe.error ? 'iperf3 is not installed: sudo apt-get install -y iperf3' : undefined;
}

const running = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

function start(endpoint: Endpoint, argv: string[], stdin: 'pipe' | 'ignore' = 'pipe'): ChildProcess {
  const [command, ...args] = [...endpoint.exec, ...argv] as [string, ...string[]];
  const child = spawn(command, args, { stdio: [stdin, 'pipe', 'pipe'] });
  running.add(child);
  child.once('exit', () => running.delete(child));
  return child;
}

/** Collects a child's stdout lines and stderr; resolves when it exits (rejects with its stderr on failure). */
function collect(child: ChildProcess, what: string): { lines: string[]; done: Promise<string[]> } {
  const lines: string[] = [];
  let stderr = '';
  child.stderr?.on('data', (chunk) => {
    stderr += chunk;
  });
  createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => lines.push(line));
  const done = new Promise<string[]>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) =>
      code === 0 ? resolve(lines) : reject(new Error(`${what} exited ${code}: ${stderr.trim().slice(-600)}`)),
    );
  });
  return { lines, done };
}

async function until(check: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** A TCP port nobody on this host listens on now (only matters on loopback; namespaces are empty). */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return typeof address === 'object' && address ? address.port : 5201;
}

export interface Iperf3Result {
  /** Goodput the receiver saw, Gbit/s (payload only: TCP/IP/Ethernet headers excluded). */
  gbitPerSecond: number;
  retransmits: number;
  seconds: number;
}

/**
 * iperf3 server at `server` (one test, then exit), client at `client` pulling with -R for `seconds` after
 * `omitSeconds` not counted (TCP's slow start).
 */
export async function runIperf3(
  server: Endpoint,
  client: Endpoint,
  seconds: number,
  omitSeconds = 0,
): Promise<Iperf3Result> {
  const port = String(await freePort());
  const serverProc = start(
    server,
    ['iperf3', '-s', '-1', '--forceflush', '-B', server.address, '-p', port],
    'ignore',
  );
  const served = collect(serverProc, 'iperf3 server');
  try {
    await until(() => served.lines.some((l) => l.includes('listening')), 'iperf3 -s to listen');
    const clientProc = start(
      client,
      [
        'iperf3',
        '-c',
        server.address,
        '-p',
        port,
        '-R',
        '-t',
        String(seconds),
        '-O',
        String(omitSeconds),
        '--json',
      ],
      'ignore',
    );
    const output = (await collect(clientProc, 'iperf3 client').done).join('\n');
    const report = JSON.parse(output) as {
      end: { sum_received: { bits_per_second: number; seconds: number }; sum_sent: { retransmits?: number } };
    };
    await served.done;
    return {
      gbitPerSecond: report.end.sum_received.bits_per_second / 1e9,
      retransmits: report.end.sum_sent.retransmits ?? 0,
      seconds: report.end.sum_received.seconds,
    };
  } finally {
    serverProc.kill('SIGTERM');
  }
}

/** /proc/self/io fields the peers report. */
export interface ProcIo {
  rchar: number;
  wchar: number;
  syscr: number;
  syscw: number;
}

export interface OwnerReport {
  io: ProcIo;
  bytesSent: number;
  userCopiedBytes: number;
}

export interface KvOwner {
  metadata: AgentMetadata;
  echo: string;
  /** Every report the owner printed so far (one after each READ that carried notif "report"). */
  reports(): OwnerReport[];
  waitForReports(count: number): Promise<void>;
  stop(): Promise<void>;
}

/** Starts `link-peer.ts serve` at `endpoint`: a Llama-3-8B-shaped pool of `blocks` blocks, and an echo port. */
export async function startKvOwner(endpoint: Endpoint, blocks: number): Promise<KvOwner> {
  const child = start(endpoint, [
    process.execPath,
    RUN_TS,
    PEER_SCRIPT,
    'serve',
    '--host',
    endpoint.address,
    '--blocks',
    String(blocks),
  ]);
  const out = collect(child, `KV owner at ${endpoint.label}`);
  const failed = out.done.then(
    () => new Error('the KV owner exited'),
    (err: Error) => err,
  );
  const parsed = () =>
    out.lines.map(
      (l) => JSON.parse(l) as { ready?: { metadata: AgentMetadata; echoPort: number }; report?: OwnerReport },
    );
  const reports = () => parsed().flatMap((m) => (m.report ? [m.report] : []));
  const ready = until(() => parsed().some((m) => m.ready), 'the KV owner to listen', 60_000);
  const first = await Promise.race([ready.then(() => undefined), failed]);
  if (first instanceof Error) throw first;
  const announced = parsed().find((m) => m.ready)?.ready;
  if (!announced) throw new Error(`the KV owner at ${endpoint.label} printed no ready line`);
  const { metadata, echoPort } = announced;
  return {
    metadata,
    echo: `${endpoint.address}:${echoPort}`,
    reports,
    waitForReports: (count) => until(() => reports().length >= count, `${count} owner reports`, 10_000),
    stop: async () => {
      child.stdin?.end();
      await out.done.catch(() => undefined);
    },
  };
}

export interface ProbeResult {
  /** Median one-byte TCP round trip, µs. */
  rttUs: number;
  /** Median READ of one tiny block (1.5 KiB): the agent's request/answer latency, ms. */
  tinyMs: number;
  blocks: number;
  bytes: number;
  /** Median READ of `blocks` blocks, ms. */
  readMs: number;
  spread: number;
  /** The reader's kernel copies during the timed READs (/proc/self/io) and its own user-space copies. */
  timedReads: { count: number; syscr: number; rchar: number; userCopiedBytes: number };
}

/** Runs `link-peer.ts probe` at `endpoint` against `owner`: round trips, tiny READs, `blocks`-block READs. */
export async function probeLink(
  endpoint: Endpoint,
  owner: KvOwner,
  options: { blocks: number; repeats: number; rounds: number },
): Promise<ProbeResult> {
  const child = start(
    endpoint,
    [
      process.execPath,
      RUN_TS,
      PEER_SCRIPT,
      'probe',
      '--peer',
      Buffer.from(JSON.stringify(owner.metadata)).toString('base64'),
      '--echo',
      owner.echo,
      '--blocks',
      String(options.blocks),
      '--repeats',
      String(options.repeats),
      '--rounds',
      String(options.rounds),
    ],
    'ignore',
  );
  const lines = await collect(child, `probe at ${endpoint.label}`).done;
  const result = lines.map((l) => JSON.parse(l) as { result?: ProbeResult }).find((m) => m.result);
  if (!result?.result) throw new Error(`the probe at ${endpoint.label} printed no result`);
  return result.result;
}

/** The owner's kernel copies over the probe's timed READs: its last report minus the one before them. */
export function ownerDelta(owner: KvOwner): { wchar: number; syscw: number; userCopiedBytes: number } {
  const reports = owner.reports();
  const [before, after] = [reports.at(-2), reports.at(-1)];
  if (!before || !after) return { wchar: Number.NaN, syscw: Number.NaN, userCopiedBytes: Number.NaN };
  return {
    wchar: after.io.wchar - before.io.wchar,
    syscw: after.io.syscw - before.io.syscw,
    userCopiedBytes: after.userCopiedBytes - before.userCopiedBytes,
  };
}

/** `dhw cluster delay-proxy --listen HOST:0 --to HOST:PORT --delay D` at `endpoint`; resolves to "host:port". */
async function startDelayProxy(
  endpoint: Endpoint,
  targetPort: number,
  delayMs: number,
): Promise<{ address: string; child: ChildProcess }> {
  const child = start(endpoint, [
    process.execPath,
    DHW,
    'cluster',
    'delay-proxy',
    '--listen',
    `${endpoint.address}:0`,
    '--to',
    `${endpoint.address}:${targetPort}`,
    '--delay',
    `${delayMs * 1000}us`,
  ]);
  const out = collect(child, `delay proxy at ${endpoint.label}`);
  void out.done.catch(() => undefined);
  const listening = () => out.lines.map((l) => /^delay-proxy (\S+) ->/.exec(l)?.[1]).find(Boolean);
  await until(
    () => listening() !== undefined || child.exitCode !== null,
    'the delay proxy to listen',
    30_000,
  );
  const address = listening();
  if (!address) throw new Error(`the delay proxy at ${endpoint.label} exited before listening`);
  return { address, child };
}

/**
 * The same owner reached through two delay proxies started next to it (one for its transfer agent, one for
 * its echo server): every connection a probe makes then pays `delayMs` each way. `stop()` ends the proxies.
 */
export async function behindDelayProxies(
  owner: KvOwner,
  endpoint: Endpoint,
  delayMs: number,
): Promise<KvOwner & { stopProxies(): void }> {
  const tcp = owner.metadata.endpoints.find((e) => e.kind === 'tcp');
  const agentPort = Number(tcp?.address.slice(tcp.address.lastIndexOf(':') + 1));
  const echoPort = Number(owner.echo.slice(owner.echo.lastIndexOf(':') + 1));
  const agentProxy = await startDelayProxy(endpoint, agentPort, delayMs);
  const echoProxy = await startDelayProxy(endpoint, echoPort, delayMs);
  return {
    ...owner,
    metadata: {
      ...owner.metadata,
      endpoints: [{ kind: 'tcp', address: `tcp://${agentProxy.address}` }],
    },
    echo: echoProxy.address,
    stopProxies: () => {
      agentProxy.child.kill('SIGTERM');
      echoProxy.child.kill('SIGTERM');
    },
  };
}
