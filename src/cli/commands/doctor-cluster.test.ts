/**
 * `dhw doctor` run inside emulated nodes (root only; skipped with the reason otherwise) against the failures
 * that need more than one machine: a worker that advertises loopback, full-size packets dropped by an MTU
 * mismatch, and a node whose link is down. Clock skew is judged in doctor-network-checks.test.ts (one
 * machine has one clock; the check here only has to find the servers' clocks and agree with them).
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import {
  type ClusterState,
  clusterUnavailableReason,
  downCluster,
  type NodeClient,
  openNodeClient,
  runInNode,
  setNodeLink,
  setNodeMtu,
  upCluster,
} from '../../cluster/index.ts';

const unavailable = await clusterUnavailableReason();
const skip = unavailable && `needs root and ip netns: ${unavailable}`;
const NAMESPACE = 'doctor';

let state: ClusterState;
let stateRoot: string;
let client: NodeClient;
const children: ChildProcess[] = [];

function startWorker(node: number, extra: string[]): void {
  // biome-ignore format: flag and value per pair
  const argv = [
    'dhw', 'worker', '--engine', 'mocker', '--speedup-ratio', '0',
    '--discovery', 'etcd', '--events', 'nats', '--namespace', NAMESPACE,
    '--system-port', '9100', '--canary-interval', '0', ...extra,
  ];
  children.push(runInNode(state, node, argv, { stdio: 'ignore' }));
}

function doctorIn(node: number): Promise<{ code: number | null; out: string }> {
  const child = runInNode(state, node, ['dhw', 'doctor', '--namespace', NAMESPACE], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout?.on('data', (chunk) => (out += chunk));
  child.stderr?.on('data', (chunk) => (out += chunk));
  return new Promise((resolve) => child.on('exit', (code) => resolve({ code, out })));
}

before(async () => {
  if (skip) return;
  stateRoot = await mkdtemp(join(tmpdir(), 'dhw-doctor-cluster-'));
  state = await upCluster({ name: `dhw-d${process.pid}`, stateRoot, nodes: 4 });
  client = openNodeClient(state.name, 1);
});

after(async () => {
  if (skip) return;
  client?.close();
  for (const child of children) child.kill('SIGKILL');
  await downCluster({ name: state?.name, stateRoot });
  await rm(stateRoot, { recursive: true, force: true });
});

test('doctor in a node: loopback advertise, MTU black hole, link down, each with its fix', {
  skip,
  timeout: 90_000,
}, async () => {
  startWorker(2, []); // the mistake: default --host 127.0.0.1, registered in etcd on node 0
  startWorker(3, ['--host', state.addresses[3]!]);
  const deadline = Date.now() + 45_000;
  for (;;) {
    const res = await client.fetch(`${state.etcd!.endpoint}/v3/kv/range`, {
      body: JSON.stringify({
        key: btoa('/dynamo/v1/instances/doctor/'),
        range_end: btoa('/dynamo/v1/instances/doctor0'),
        count_only: true,
      }),
    });
    if (Number((JSON.parse(res.body ?? '{}') as { count?: string }).count ?? 0) >= 2) break;
    assert.ok(Date.now() < deadline, 'both workers registered within 45 s');
    await new Promise((r) => setTimeout(r, 300));
  }

  const healthy = await doctorIn(1);
  assert.match(healthy.out, /✔ route to 10\.77\.0\.1 +via eth0 \(mtu 1500, up\)/, healthy.out);
  assert.match(healthy.out, /✔ clock skew +etcd http:\/\/10\.77\.0\.1:2379/, healthy.out);
  assert.match(healthy.out, /✔ clock skew +NATS http:\/\/10\.77\.0\.1:8222\/varz/, healthy.out);
  assert.match(
    healthy.out,
    /✖ instance \w+ +registered at 127\.0\.0\.1:\d+ but nothing answers/,
    healthy.out,
  );
  assert.match(
    healthy.out,
    /fix: 127\.0\.0\.1 is loopback: only processes in the worker's own machine/,
    healthy.out,
  );
  assert.match(
    healthy.out,
    /! advertise \w+ +advertises 127\.0\.0\.1:\d+ \(loopback\) while etcd is at 10\.77\.0\.1/,
  );
  assert.match(healthy.out, /✔ big packets to 10\.77\.0\.4 +\d+ B of \/metrics arrived/, healthy.out);
  assert.equal(healthy.code, 1);

  // Jumbo frames on both hosts, 1500 on the switch ports: connections open, full-size segments vanish.
  await setNodeMtu(state.name, 1, 9000);
  await setNodeMtu(state.name, 3, 9000);
  const jumbo = await doctorIn(1);
  assert.match(
    jumbo.out,
    /✖ big packets to 10\.77\.0\.4 +connections to 10\.77\.0\.4 open, but .* never arrived/,
    jumbo.out,
  );
  assert.match(jumbo.out, /MTU mismatch; this side's eth0 has mtu 9000/, jumbo.out);
  await setNodeMtu(state.name, 1, 1500);
  await setNodeMtu(state.name, 3, 1500);

  // Node 3's cable pulled: from inside node 3, its own link is the problem.
  await setNodeLink(state.name, 3, 'down');
  const cut = await doctorIn(3);
  assert.match(cut.out, /✖ etcd +Cannot reach etcd at http:\/\/10\.77\.0\.1:2379/, cut.out);
  assert.match(
    cut.out,
    /✖ route to 10\.77\.0\.1 +via eth0, which is (down|lowerlayerdown): the link is down/,
    cut.out,
  );
  assert.match(cut.out, /fix: bring the link up/, cut.out);
  await setNodeLink(state.name, 3, 'up');
});
