/**
 * Lab 4.5: cross-node registration. Four emulated nodes (network namespaces on one bridge, `dhw cluster`):
 * etcd and NATS in node 0, `dhw frontend` in node 1, `dhw worker` in nodes 2 and 3, each bound to and
 * publishing its node's address. Then a failure drill on the network instead of the process: pull node 3's
 * cable, watch its lease expire and routing move to node 2, plug it back and watch the worker (restarted by
 * its supervisor after the lease-lost exit) register again and take traffic. Like draining a rack from a
 * load balancer by unplugging its uplink: the registry notices by silence, not by a goodbye.
 *
 * Needs root (network namespaces). Without it the lab says why and exits 0, so the smoke run stays green;
 * CI runs as root, so there it really runs.
 *
 * @expect /node 1 +dhw-lab45-n1 +10\.77\.0\.2|Lab skipped: needs root/
 * @expect /frontend routes to: 10\.77\.0\.3, 10\.77\.0\.4|Lab skipped: needs root/
 * @expect /8 requests: node 2 served 4, node 3 served 4|Lab skipped: needs root/
 * @expect /node 3 left the routing table after \d+\.\d s \(lease TTL \d s\)|Lab skipped: needs root/
 * @expect /with node 3 cut off: \d+ of \d+ requests HTTP 200, node 2 served all of them|Lab skipped: needs root/
 * @expect /\[supervisor\] exit 3|Lab skipped: needs root/
 * @expect /node 3 routed again \d+\.\d s after its link came back|Lab skipped: needs root/
 * @expect Lab complete.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type ClusterState,
  clusterStatus,
  clusterUnavailableReason,
  downCluster,
  type NodeClient,
  openNodeClient,
  runInNode,
  setNodeLink,
  upCluster,
} from '../../../src/cluster/index.ts';
import { banner, isSmoke, note, printTable, runLab, step } from '../../lib/lab-kit.ts';

const smoke = isSmoke();
const CLUSTER = 'dhw-lab45';
const FRONTEND_NODE = 1;
const WORKER_NODES = [2, 3];
const CUT_NODE = 3;
const LEASE_TTL_S = smoke ? 2 : 5;
const HTTP_PORT = 8000;
const SYSTEM_PORT = 9100;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

let state: ClusterState;
const clients = new Map<number, NodeClient>();
const logs = new Map<number, string>();
const children: ChildProcess[] = [];

function start(node: number, argv: string[], restart: boolean): void {
  note(`$ dhw cluster run${restart ? ' --restart' : ''} ${node} -- ${argv.join(' ')}`);
  const child = runInNode(state, node, argv, {
    stdio: ['ignore', 'pipe', 'pipe'],
    restart,
    restartDelayMs: 1000,
  });
  logs.set(node, '');
  const keep = (chunk: Buffer) => logs.set(node, ((logs.get(node) ?? '') + chunk.toString()).slice(-20_000));
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  children.push(child);
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) {
      const tails = [...logs].map(([node, text]) => `--- node ${node} ---\n${text.slice(-1500)}`).join('\n');
      throw new Error(`timed out waiting for ${what}\n${tails}`);
    }
    await sleep(200);
  }
}

/** The worker addresses the frontend routes to (its /health), asked from inside node 1. */
async function routed(): Promise<string[] | undefined> {
  const url = `http://${state.addresses[FRONTEND_NODE]}:${HTTP_PORT}/health`;
  const res = await clients.get(FRONTEND_NODE)!.fetch(url, { timeoutMs: 2000 });
  if (res.status !== 200 || !res.body) return undefined;
  const health = JSON.parse(res.body) as { instances: { address: string }[] };
  return health.instances.map((i) => i.address.split(':')[0]!).sort();
}

/** dynamo_component_requests_total of the worker in `node` (its /metrics, asked from inside its node). */
async function served(node: number): Promise<number> {
  const res = await clients.get(node)!.fetch(`http://${state.addresses[node]}:${SYSTEM_PORT}/metrics`);
  return (res.body ?? '')
    .split('\n')
    .filter((line) => line.startsWith('dynamo_component_requests_total'))
    .reduce((sum, line) => sum + Number(line.split(' ').at(-1)), 0);
}

async function requests(count: number, label: string): Promise<number> {
  let ok = 0;
  for (let i = 0; i < count; i++) {
    const res = await clients
      .get(FRONTEND_NODE)!
      .fetch(`http://${state.addresses[FRONTEND_NODE]}:${HTTP_PORT}/v1/chat/completions`, {
        body: JSON.stringify({
          model: 'fortune-llama',
          messages: [{ role: 'user', content: `Tell me a fortune about ${label} ${i}.` }],
          max_tokens: 8,
          temperature: 0,
        }),
        timeoutMs: 30_000,
      });
    if (res.status === 200) ok++;
  }
  return ok;
}

async function main(): Promise<void> {
  banner('4.5', 'Cross-node registration: workers on other nodes, a cable pulled and plugged back');
  const unavailable = await clusterUnavailableReason();
  if (unavailable) {
    note(`Lab skipped: needs root. ${unavailable}.`);
    note('This lab builds network namespaces; run it as root: sudo npm run lab -- 4.5');
    return;
  }
  const stateRoot = await mkdtemp(join(tmpdir(), 'dhw-lab45-'));
  await downCluster({ name: CLUSTER, stateRoot }); // a cluster left by an interrupted run
  try {
    step('dhw cluster up --nodes 4 --link 1gbit: four namespaces on a bridge, etcd and NATS in node 0');
    state = await upCluster({ name: CLUSTER, stateRoot, nodes: 4, link: '1gbit' });
    const status = await clusterStatus({ name: CLUSTER, stateRoot });
    for (const link of status.links)
      note(
        `node ${link.node}  ${link.namespace.padEnd(12)} ${link.address}  ${link.operState}  ${link.qdisc}`,
      );
    for (const server of status.servers)
      note(`${server.name} ${server.endpoint} ${server.healthy ? 'healthy' : 'NOT healthy'} (in node 0)`);
    for (const node of [FRONTEND_NODE, ...WORKER_NODES]) clients.set(node, openNodeClient(CLUSTER, node));

    step(
      `A worker in nodes 2 and 3 (lease TTL ${LEASE_TTL_S} s, under a restart loop), a frontend in node 1`,
    );
    for (const node of WORKER_NODES) {
      // biome-ignore format: flag and value per pair
      start(node, [
        'dhw', 'worker', '--discovery', 'etcd', '--events', 'nats',
        '--host', state.addresses[node]!, '--system-port', String(SYSTEM_PORT),
        '--lease-ttl', String(LEASE_TTL_S), '--exit-on-lease-loss', '--canary-interval', '0', '--threads', '1',
      ], true);
    }
    // biome-ignore format: flag and value per pair
    start(FRONTEND_NODE, [
      'dhw', 'frontend', '--discovery', 'etcd', '--events', 'nats',
      '--host', state.addresses[FRONTEND_NODE]!, '--port', String(HTTP_PORT),
      '--router', 'round-robin', '--migration-limit', '3',
    ], false);
    const both = await waitFor('both workers to be routed to', async () => {
      const a = await routed();
      return a?.length === 2 ? a : undefined;
    });
    note(`frontend routes to: ${both.join(', ')}   (the addresses the workers published with --host)`);

    step('Round-robin traffic: each worker serves half');
    const before = await Promise.all(WORKER_NODES.map(served));
    await requests(8, 'computers');
    const after = await Promise.all(WORKER_NODES.map(served));
    note(`8 requests: node 2 served ${after[0]! - before[0]!}, node 3 served ${after[1]! - before[1]!}`);

    step(`Pull node 3's cable (ip -n ${CLUSTER}-br link set v3 down): predict when the frontend notices`);
    note(
      `prediction: about one lease TTL (${LEASE_TTL_S} s) after the last keepalive got through, plus a watch event`,
    );
    const cut = Date.now();
    await setNodeLink(CLUSTER, CUT_NODE, 'down');
    await waitFor('node 3 to leave the routing table', async () =>
      (await routed())?.length === 1 ? true : undefined,
    );
    const goneS = (Date.now() - cut) / 1000;
    note(`node 3 left the routing table after ${goneS.toFixed(1)} s (lease TTL ${LEASE_TTL_S} s)`);
    const node2Before = await served(2);
    const ok = await requests(6, 'the sea');
    const node2Served = (await served(2)) - node2Before;
    note(
      `with node 3 cut off: ${ok} of 6 requests HTTP 200, node 2 served ${node2Served === 6 ? 'all of them' : `${node2Served}`}`,
    );

    step(
      'Plug it back in: the worker lost its lease (exit 3); its supervisor restarts it and it registers again',
    );
    const plugged = Date.now();
    await setNodeLink(CLUSTER, CUT_NODE, 'up');
    await waitFor('node 3 to be routed again', async () =>
      (await routed())?.length === 2 ? true : undefined,
    );
    note(`node 3 routed again ${((Date.now() - plugged) / 1000).toFixed(1)} s after its link came back`);
    for (const line of (logs.get(CUT_NODE) ?? '').split('\n').filter((l) => l.includes('[supervisor]')))
      note(line.trim());
    const again = await Promise.all(WORKER_NODES.map(served));
    await requests(4, 'science');
    const final = await Promise.all(WORKER_NODES.map(served));
    printTable(
      ['node', 'served before the cut', 'during', 'after it came back'],
      WORKER_NODES.map((node, i) => [
        `node ${node}`,
        after[i]!,
        node === 2 ? node2Served : 0,
        final[i]! - again[i]!,
      ]),
    );
  } finally {
    for (const client of clients.values()) client.close();
    for (const child of children) child.kill('SIGTERM');
    await downCluster({ name: CLUSTER, stateRoot });
    await rm(stateRoot, { recursive: true, force: true });
  }
}

runLab(
  main,
  'needs root and iproute2; leftovers: sudo npx dhw cluster down --name dhw-lab45 --state-dir /tmp',
);
