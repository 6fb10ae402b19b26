/**
 * Test helpers for disaggregated serving under faults: `dhw worker --role prefill|decode` CHILD PROCESSES
 * against real etcd + NATS, so a test can `kill -9` one of them exactly where it wants; the two hops of a
 * disaggregated request driven by hand over the request plane (prefill with `doRemoteDecode`, then decode
 * with `doRemotePrefill`), so the order of "answer, die, pull" is the test's and not the scheduler's; a
 * worker's /metrics read as numbers and polled (never timed); and a transfer agent that accepts data
 * connections and never answers (the hung peer), published in etcd like a real one.
 *
 * Like a fault-injection rig (Jepsen's nemesis, toxiproxy): real processes, real sockets, real registry;
 * the faults are signals and silent peers, not mocks.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createServer, type Server, type Socket } from 'node:net';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { killWithTestProcess } from '../../infra/testing/lifecycle-kit.ts';
import type { EngineOutput, EngineRequest } from '../../protocols/engine.ts';
import type { KvTransferParams } from '../../protocols/kv-transfer.ts';
import { createDiscovery, type Discovery } from '../../runtime/discovery/index.ts';
import type { TcpRequestPlane } from '../../runtime/request-plane/index.ts';
import { publishAgentMetadata } from '../../transfer/agent-directory.ts';
import { type AgentMetadata, agentMetadataKey } from '../../transfer/agent-metadata.ts';
import { repoRoot } from '../../util/paths.ts';
import type { TestInfra } from './worker-kit.ts';

const DHW = join(repoRoot, 'bin', 'dhw.mjs');
const READY = /Worker ([0-9a-f]+) serving \S+ on (\S+?), status http:\/\/[^:]+:(\d+)\/health/;

export type WorkerRole = 'prefill' | 'decode' | 'aggregated';

/** A `dhw worker --role ROLE` child process, registered and serving. */
export interface RoleWorker {
  role: WorkerRole;
  child: ChildProcess;
  /** Instance id = lease id in hex = transfer agent name. */
  instanceId: string;
  /** Request-plane address (host:port). */
  address: string;
  systemPort: number;
  /** Everything it printed so far, stdout and stderr interleaved. */
  output(): string;
  /** GET /metrics on its status port (Prometheus text). */
  metrics(): Promise<string>;
  /** Exit code, or null after a signal. */
  exited: Promise<number | null>;
  /** `kill -9`, resolved once the process is gone: nothing of it runs any more. */
  kill9(): Promise<void>;
  /** SIGTERM (unregister, drain), SIGKILL after 5 s. */
  stop(): Promise<void>;
}

export interface RoleWorkerOptions {
  engine?: 'mocker' | 'scratch';
  /** Discovery lease TTL in seconds (short, so a killed worker's keys go soon). Default 3. */
  leaseTtlS?: number;
  /** More `dhw worker` flags (e.g. `--kv-hold-timeout 1000`). */
  extra?: string[];
}

/** Start `dhw worker --role ROLE` in `namespace` against the infra's etcd and NATS; resolve once serving. */
export async function spawnRoleWorker(
  infra: TestInfra,
  namespace: string,
  role: WorkerRole,
  options: RoleWorkerOptions = {},
): Promise<RoleWorker> {
  const args = [
    'worker',
    '--role',
    role,
    '--engine',
    options.engine ?? 'mocker',
    '--namespace',
    namespace,
    '--discovery',
    'etcd',
    '--events',
    'nats',
    '--lease-ttl',
    String(options.leaseTtlS ?? 3),
    '--canary-interval',
    '0',
    '--system-port',
    '0',
    ...(options.extra ?? []),
  ];
  const child = spawn(process.execPath, [DHW, ...args], {
    env: { ...process.env, ETCD_ENDPOINTS: infra.etcd.endpoint, NATS_SERVER: infra.nats.url },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  killWithTestProcess(child);
  let out = '';
  child.stdout?.on('data', (d) => (out += d));
  child.stderr?.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const deadline = Date.now() + 60_000;
  let match = READY.exec(out);
  while (!match) {
    if (child.exitCode !== null)
      throw new Error(`dhw worker --role ${role} exited (${child.exitCode}):\n${out}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`dhw worker --role ${role} not serving within 60 s:\n${out}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 25));
    match = READY.exec(out);
  }
  const [, instanceId, address, systemPort] = match as unknown as [string, string, string, string];
  const gone = () => child.exitCode !== null || child.signalCode !== null;
  return {
    role,
    child,
    instanceId,
    address,
    systemPort: Number(systemPort),
    output: () => out,
    metrics: async () => (await fetch(`http://127.0.0.1:${systemPort}/metrics`)).text(),
    exited,
    kill9: async () => {
      if (!gone()) child.kill('SIGKILL');
      await exited;
    },
    stop: async () => {
      if (gone()) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Sum of every sample of `name` whose labels include all of `labels` (Prometheus text, parsed by hand). */
export function metricValue(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (!Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) continue;
    sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

/** Each value of `label` among the samples of `name`, with the sum of its samples. */
export function metricByLabel(text: string, name: string, label: string): Map<string, number> {
  const values = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    const m = new RegExp(`${label}="([^"]*)"`).exec(line);
    if (!m) continue;
    const key = m[1] as string;
    values.set(key, (values.get(key) ?? 0) + Number(line.slice(line.lastIndexOf(' ') + 1)));
  }
  return values;
}

/** One metric of a worker, read now. */
export async function readMetric(
  worker: RoleWorker,
  name: string,
  labels: Record<string, string> = {},
): Promise<number> {
  return metricValue(await worker.metrics(), name, labels);
}

/**
 * Poll a worker's metric until `ok(value)`; throws naming the metric, the last value and `what`. Polling,
 * not sleeping: the test never depends on how long the worker takes, only on a generous upper bound.
 */
export async function waitForMetric(
  worker: RoleWorker,
  name: string,
  ok: (value: number) => boolean,
  what: string,
  options: { labels?: Record<string, string>; timeoutMs?: number } = {},
): Promise<number> {
  const deadline = Date.now() + (options.timeoutMs ?? 15_000);
  let value = Number.NaN;
  for (;;) {
    value = await readMetric(worker, name, options.labels);
    if (ok(value)) return value;
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${what}: ${name} is ${value} on the ${worker.role} worker`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Every output of one `generate` call over the request plane. */
export async function generate(
  plane: TcpRequestPlane,
  worker: RoleWorker,
  request: EngineRequest,
): Promise<EngineOutput[]> {
  const outputs: EngineOutput[] = [];
  for await (const item of plane.call(worker.address, 'generate', request, { requestId: request.requestId }))
    outputs.push(item as EngineOutput);
  return outputs;
}

/**
 * Hop 1 by hand: what the frontend sends a prefill worker (one token, `doRemoteDecode`). Returns the
 * `kvTransferParams` of its last output: where the prompt's KV is held.
 */
export async function prefillRemotely(
  plane: TcpRequestPlane,
  prefill: RoleWorker,
  request: EngineRequest,
): Promise<KvTransferParams> {
  const outputs = await generate(plane, prefill, {
    ...request,
    stopping: { ...request.stopping, maxTokens: 1 },
    kvTransfer: { doRemoteDecode: true },
  });
  const params = outputs.at(-1)?.kvTransferParams;
  if (!params)
    throw new Error(`the prefill worker answered without kvTransferParams: ${JSON.stringify(outputs)}`);
  return params;
}

/** Hop 2's request: the original one plus "pull the prompt's KV from there". */
export function withRemotePrefill(request: EngineRequest, params: KvTransferParams): EngineRequest {
  return { ...request, kvTransfer: { doRemotePrefill: params } };
}

/** A worker's transfer-agent record in etcd (what its peers read to reach it), or undefined. */
export async function agentRecord(
  discovery: Discovery,
  namespace: string,
  agentName: string,
): Promise<AgentMetadata | undefined> {
  return (await discovery.get(agentMetadataKey(namespace, agentName))) as AgentMetadata | undefined;
}

/** A transfer agent that hangs: it accepts data connections, reads what comes, and never answers. */
export interface SilentPeer {
  /** Its agent name (= the etcd key's last part). */
  name: string;
  /** Data connections it accepted so far (a dial reached it). */
  accepted(): number;
  close(): Promise<void>;
}

/**
 * Start a hung peer and publish it in etcd under its own lease as agent `name`, advertising `regions`
 * (copy a real worker's, so the layout matches and only the silence is wrong) on a TCP endpoint only.
 */
export async function startSilentPeer(
  etcdEndpoint: string,
  namespace: string,
  name: string,
  regions: AgentMetadata['regions'],
): Promise<SilentPeer> {
  const sockets = new Set<Socket>();
  let accepted = 0;
  const server: Server = createServer((socket) => {
    accepted++;
    sockets.add(socket);
    socket.on('data', () => {}); // swallow the request frame: the peer is alive but never replies
    socket.on('error', () => {});
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  const discovery = await createDiscovery({ backend: 'etcd', etcdEndpoints: etcdEndpoint, ttlSeconds: 5 });
  await publishAgentMetadata(discovery, namespace, {
    name,
    host: hostname(),
    pid: process.pid,
    endpoints: [{ kind: 'tcp', address: `tcp://127.0.0.1:${port}` }],
    regions,
  });
  return {
    name,
    accepted: () => accepted,
    close: async () => {
      await discovery.close();
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
