/**
 * How far does one etcd carry the control plane? Registers N workers (each its own lease, kept alive over
 * etcd's HTTP gateway every TTL/3, with an instance key and a model card, exactly as `dhw worker` does) while
 * F frontends watch the prefix, then measures: registration time, how long until every frontend has seen
 * every key, etcd's CPU and our keepalive traffic at steady state, bytes stored per worker, what one
 * worker's graceful shutdown costs (its card-bucket check lists every card), and how fast a 10 % churn
 * reaches the frontends. The numbers behind docs/scale.md.
 *
 *   npm run bench:discovery-scale -- --workers 10,100,1000 --frontends 1,4 [--steady-seconds 10]
 */
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startEtcd } from '../src/infra/local-servers.ts';
import type { InstanceInfo, ModelCard } from '../src/protocols/discovery.ts';
import {
  createDiscovery,
  DEFAULT_LEASE_TTL_SECONDS,
  type Discovery,
} from '../src/runtime/discovery/index.ts';
import { instanceKey, modelCardKey, modelCardsPrefix } from '../src/runtime/names.ts';
import { configureLogging } from '../src/util/logger.ts';
import { repoRoot } from '../src/util/paths.ts';
import { positiveInt, positiveIntList } from './lib/args.ts';
import { describeMachine, machineLine } from './lib/machine.ts';
import { procCpuSeconds } from './lib/proc-cpu.ts';

const { values: args } = parseArgs({
  options: {
    workers: { type: 'string', default: '10,100,1000' }, // worker counts to register
    frontends: { type: 'string', default: '1,4' }, // watching frontends
    'steady-seconds': { type: 'string', default: '10' }, // steady state measured per point
  },
});
const workerCounts = positiveIntList('workers', args.workers);
const frontendCounts = positiveIntList('frontends', args.frontends);
const steadySeconds = positiveInt('steady-seconds', args['steady-seconds']);

/** A model card as a worker of the bundled model writes it (chat template included), bucket per model. */
function realisticCard(): ModelCard {
  const chatTemplate = readFileSync(join(repoRoot, 'models/fortune-llama/chat_template.jinja'), 'utf8');

  return {
    displayName: 'fortune-llama',
    modelType: 'chat',
    tokenizer: {
      kind: 'nats-object-store',
      bucket: 'fortune-llama',
      mdcsum: `sha256:${'a'.repeat(64)}`,
      files: ['tokenizer.json', 'tokenizer_config.json', 'generation_config.json'].map((name) => ({
        name: name as 'tokenizer.json',
        checksum: `sha256:${'b'.repeat(64)}`,
        size: 100_000,
      })),
      workerPath: '/app/models/fortune-llama',
    },
    chatTemplate,
    contextLength: 1024,
    kvCacheBlockSize: 16,
    totalKvBlocks: 16384,
    maxNumSeqs: 64,
    maxNumBatchedTokens: 2048,
    eosTokenIds: [2],
  };
}

const cpuSecondsOf = (pid: number): number => procCpuSeconds(`/proc/${pid}/stat`);

async function etcdDbBytes(endpoint: string): Promise<number> {
  const text = await (await fetch(`${endpoint}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith('etcd_mvcc_db_total_size_in_bytes '));
  return Number(line?.split(' ')[1] ?? Number.NaN);
}

/** Resolves when `count()` reaches `target`; returns the milliseconds it took from `since`. */
async function waitFor(
  count: () => number,
  target: number,
  since: number,
  timeoutMs = 120_000,
): Promise<number> {
  while (count() < target) {
    if (performance.now() - since > timeoutMs)
      throw new Error(`stuck at ${count()} of ${target} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 5));
  }
  return performance.now() - since;
}

interface Point {
  workers: number;
  frontends: number;
  registerMs: number;
  allSeenMs: number;
  etcdCpuPct: number;
  clientCpuPct: number;
  keepalivesPerSec: number;
  bytesPerWorker: number;
  dbMiB: number;
  shutdownListMs: number;
  churnSeenMs: number;
}

async function measure(endpoint: string, etcdPid: number, n: number, f: number): Promise<Point> {
  const card = realisticCard();
  const watchers: { discovery: Discovery; keys: Set<string> }[] = [];
  for (let i = 0; i < f; i++) {
    const discovery = await createDiscovery({ etcdEndpoints: endpoint });
    const keys = new Set<string>();
    const watch = await discovery.watch('/dynamo/v1/', (e) =>
      e.type === 'put' ? keys.add(e.key) : keys.delete(e.key),
    );
    for (const kv of watch.initial) keys.add(kv.key);
    watchers.push({ discovery, keys });
  }
  const minSeen = (): number => Math.min(...watchers.map((w) => w.keys.size));
  const workers: Discovery[] = [];
  let valueBytes = 0;
  const start = performance.now();
  // Workers start in waves of 50, like a Deployment scaling up (each registers as soon as it is up).
  for (let i = 0; i < n; i += 50) {
    const wave = await Promise.all(
      Array.from({ length: Math.min(50, n - i) }, async (_, j) => {
        const discovery = await createDiscovery({ etcdEndpoints: endpoint });
        const id = { namespace: 'dynamo', component: 'backend', endpoint: 'generate' };
        const info: InstanceInfo = {
          ...id,
          instanceId: discovery.leaseId(),
          transport: { tcp: `10.0.${(i + j) >> 8}.${(i + j) & 255}:9000` },
          systemPort: 9090,
          pid: 1,
          hostname: `worker-7d9f8c6b5-${(i + j).toString(36).padStart(5, 'x')}`,
        };
        await discovery.put(instanceKey(id, info.instanceId), info);
        await discovery.put(modelCardKey(id, info.instanceId), card);
        valueBytes += JSON.stringify(info).length + JSON.stringify(card).length;
        return discovery;
      }),
    );
    workers.push(...wave);
  }
  const registerMs = performance.now() - start;
  const allSeenMs = await waitFor(minSeen, 2 * n, start);

  const etcdCpu0 = cpuSecondsOf(etcdPid);
  const clientCpu0 = process.cpuUsage();
  await new Promise((r) => setTimeout(r, steadySeconds * 1000));
  const etcdCpuPct = ((cpuSecondsOf(etcdPid) - etcdCpu0) / steadySeconds) * 100;
  const used = process.cpuUsage(clientCpu0);
  const clientCpuPct = ((used.user + used.system) / 1e6 / steadySeconds) * 100;

  const listStart = performance.now();
  await workers[0]!.list(modelCardsPrefix());
  const shutdownListMs = performance.now() - listStart;
  const dbMiB = (await etcdDbBytes(endpoint)) / 2 ** 20;

  const churn = workers.splice(0, Math.max(1, Math.round(n / 10)));
  const churnStart = performance.now();
  await Promise.all(churn.map((d) => d.close()));
  const churnSeenMs = await waitFor(
    () => 2 * n - Math.max(...watchers.map((w) => w.keys.size)),
    2 * churn.length,
    churnStart,
  );

  await Promise.all([...workers, ...watchers.map((w) => w.discovery)].map((d) => d.close()));
  return {
    workers: n,
    frontends: f,
    registerMs,
    allSeenMs,
    etcdCpuPct,
    clientCpuPct,
    keepalivesPerSec: n / (DEFAULT_LEASE_TTL_SECONDS / 3),
    bytesPerWorker: valueBytes / n,
    dbMiB,
    shutdownListMs,
    churnSeenMs,
  };
}

configureLogging({ level: 'warn' }); // a thousand 'connected' lines would drown the table
const machine = describeMachine();
console.log(
  `discovery scale: ${machineLine(machine)}; lease TTL ${DEFAULT_LEASE_TTL_SECONDS} s, keepalive every TTL/3`,
);
const etcd = await startEtcd();
const points: Point[] = [];
try {
  for (const n of workerCounts)
    for (const f of frontendCounts) {
      const p = await measure(etcd.endpoint, etcd.pid, n, f);
      points.push(p);
      console.error(`${n} workers, ${f} frontends done (load ${loadavg()[0]!.toFixed(1)})`);
    }
} finally {
  await etcd.stop();
}
const header =
  '| workers | frontends | register all | all seen by every frontend | etcd CPU (steady) | keepalive client CPU | keepalives/s | bytes/worker | etcd db | list all cards | 10 % churn seen |';
console.log(`\n${header}\n|${'---:|'.repeat(11)}`);
for (const p of points)
  console.log(
    `| ${p.workers} | ${p.frontends} | ${p.registerMs.toFixed(0)} ms | ${p.allSeenMs.toFixed(0)} ms | ${p.etcdCpuPct.toFixed(1)} % | ${p.clientCpuPct.toFixed(1)} % | ${p.keepalivesPerSec.toFixed(0)} | ${p.bytesPerWorker.toFixed(0)} B | ${p.dbMiB.toFixed(1)} MiB | ${p.shutdownListMs.toFixed(1)} ms | ${p.churnSeenMs.toFixed(0)} ms |`,
  );
console.log(`\nload average at start ${machine.loadAvg1m} on ${machine.cores} cores (CPU % of one core)`);
