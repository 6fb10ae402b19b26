/**
 * The stack across emulated nodes (root only; skipped with the reason otherwise): etcd and NATS in node 0,
 * a frontend in node 1, workers in nodes 2 and 3, every process bound to its node's address and publishing
 * it with --host (the advertise host defaults to the bind host). Two stories:
 *
 *  1. A frontend whose disk has no copy of the model serves through a worker in another node: the worker
 *     runs from a temporary copy of fortune-llama that is deleted once it has registered, so the frontend can
 *     only get the tokenizer and chat template through the card's files in NATS's object store.
 *  2. Cross-node registration: cutting a worker node's cable lets its 2 s lease expire, the frontend stops
 *     routing to it and requests go to the remaining worker; plugging it back in, the worker (restarted by a
 *     supervisor loop after its lease-lost exit 3) registers again and gets traffic again.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { defaultModelDir } from '../util/paths.ts';
import {
  type ClusterState,
  clusterUnavailableReason,
  downCluster,
  type NodeClient,
  openNodeClient,
  runInNode,
  setNodeLink,
  upCluster,
} from './index.ts';

const unavailable = await clusterUnavailableReason();
const skip = unavailable && `needs root and ip netns: ${unavailable}`;
const FRONTEND_NODE = 1;
const LEASE_TTL_S = '2';

let state: ClusterState;
let stateRoot: string;
let scratch: string;
const children: ChildProcess[] = [];
/** One fetch agent per node (fetching from the host is impossible: it has no route to the nodes). */
const clients = new Map<number, NodeClient>();
const clientIn = (node: number) => clients.get(node)!;
const logs = new Map<string, string>();

function start(name: string, node: number, argv: string[], restart = false): ChildProcess {
  const child = runInNode(state, node, argv, {
    stdio: ['ignore', 'pipe', 'pipe'],
    restart,
    restartDelayMs: 500,
  });
  logs.set(name, '');
  const keep = (chunk: Buffer) => logs.set(name, ((logs.get(name) ?? '') + chunk.toString()).slice(-6000));
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  children.push(child);
  return child;
}

function describeLogs(): string {
  return [...logs].map(([name, text]) => `--- ${name} ---\n${text}`).join('\n');
}

async function eventually<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  timeoutMs = 30_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}\n${describeLogs()}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

const frontendUrl = (port: number) => `http://${state.addresses[FRONTEND_NODE]}:${port}`;

/** The instance addresses the frontend routes to now (its /health), asked from inside the frontend's node. */
async function routedAddresses(port: number): Promise<string[] | undefined> {
  const res = await clientIn(FRONTEND_NODE).fetch(`${frontendUrl(port)}/health`, {
    timeoutMs: 2000,
  });
  if (res.status !== 200 || !res.body) return undefined;
  const health = JSON.parse(res.body) as { instances: { address: string }[] };
  return health.instances.map((i) => i.address.split(':')[0]!).sort();
}

async function complete(
  port: number,
  prompt: string,
): Promise<{ status?: number; text?: string; error?: string }> {
  const res = await clientIn(FRONTEND_NODE).fetch(`${frontendUrl(port)}/v1/chat/completions`, {
    body: JSON.stringify({
      model: 'fortune-llama',
      messages: [{ role: 'user', content: prompt }],
      max_tokens: 8,
      temperature: 0,
    }),
    timeoutMs: 20_000,
  });
  if (res.status !== 200) return { status: res.status, error: res.error ?? res.body };
  const body = JSON.parse(res.body!) as { choices: { message: { content: string } }[] };
  return { status: 200, text: body.choices[0]?.message.content };
}

/** dynamo_component_requests_total summed over a worker's /metrics (its system port, asked from its node). */
async function requestsServed(node: number, systemPort: number): Promise<number | undefined> {
  const res = await clientIn(node).fetch(`http://${state.addresses[node]}:${systemPort}/metrics`);
  if (res.status !== 200 || !res.body) return undefined;
  return res.body
    .split('\n')
    .filter((line) => line.startsWith('dynamo_component_requests_total'))
    .reduce((sum, line) => sum + Number(line.split(' ').at(-1)), 0);
}

function workerArgv(node: number, namespace: string, model: string, systemPort: number): string[] {
  // biome-ignore format: one flag and its value per line
  return [
    'dhw', 'worker',
    '--discovery', 'etcd', '--events', 'nats',
    '--namespace', namespace,
    '--model', model,
    '--host', state.addresses[node]!,
    '--system-port', String(systemPort),
    '--lease-ttl', LEASE_TTL_S,
    '--exit-on-lease-loss',
    '--canary-interval', '0',
    '--threads', '1',
  ];
}

function frontendArgv(namespace: string, port: number, cacheDir: string): string[] {
  // biome-ignore format: one flag and its value per line
  return [
    'dhw', 'frontend',
    '--discovery', 'etcd', '--events', 'nats',
    '--namespace', namespace,
    '--host', state.addresses[FRONTEND_NODE]!,
    '--port', String(port),
    '--router', 'round-robin',
    '--migration-limit', '3',
    '--model-cache-dir', cacheDir,
  ];
}

before(async () => {
  if (skip) return;
  stateRoot = await mkdtemp(join(tmpdir(), 'dhw-cross-node-'));
  scratch = await mkdtemp(join(tmpdir(), 'dhw-cross-node-models-'));
  state = await upCluster({ name: `dhw-x${process.pid}`, stateRoot, nodes: 4, link: '1gbit' });
  for (const node of [1, 2, 3]) clients.set(node, openNodeClient(state.name, node));
});

after(async () => {
  if (skip) return;
  for (const client of clients.values()) client.close();
  for (const child of children) child.kill('SIGKILL');
  await downCluster({ name: state?.name, stateRoot });
  await rm(stateRoot, { recursive: true, force: true });
  await rm(scratch, { recursive: true, force: true });
});

test('a frontend in one node serves through a worker in another, with no copy of the model on its path', {
  skip,
  timeout: 60_000,
}, async () => {
  const namespace = 'cards';
  const modelCopy = join(scratch, 'fortune-llama');
  await cp(defaultModelDir, modelCopy, { recursive: true });
  start('worker-2 (cards)', 2, workerArgv(2, namespace, modelCopy, 9102));
  await eventually('the worker to serve its status port', async () =>
    (await requestsServed(2, 9102)) === undefined ? undefined : true,
  );
  // Registered: the card and its files are in etcd and NATS. The folder the card names goes away.
  await rm(modelCopy, { recursive: true, force: true });
  const cacheDir = await mkdtemp(join(scratch, 'frontend-cache-'));
  start('frontend (cards)', FRONTEND_NODE, frontendArgv(namespace, 8001, cacheDir));
  const routed = await eventually('the frontend to route to the worker in node 2', async () => {
    const addresses = await routedAddresses(8001);
    return addresses?.length === 1 ? addresses : undefined;
  });
  assert.deepEqual(routed, [state.addresses[2]]);
  const answer = await complete(8001, 'Tell me a fortune about computers.');
  assert.equal(answer.status, 200, `${answer.error}\n${describeLogs()}`);
  assert.ok(answer.text && answer.text.length > 0);
  assert.equal(await requestsServed(2, 9102), 1);
});

test('link down: the lease expires and routing moves to the other node; link up: the worker registers again', {
  skip,
  timeout: 60_000,
}, async (t) => {
  const t0 = Date.now();
  const step = (what: string) => t.diagnostic(`${((Date.now() - t0) / 1000).toFixed(1)} s: ${what}`);
  const namespace = 'links';
  start('worker-2', 2, workerArgv(2, namespace, defaultModelDir, 9202), true);
  start('worker-3', 3, workerArgv(3, namespace, defaultModelDir, 9203), true);
  start('frontend', FRONTEND_NODE, frontendArgv(namespace, 8002, join(scratch, 'cache-links')));
  const both = [state.addresses[2], state.addresses[3]].sort();
  assert.deepEqual(
    await eventually('both workers to be routed to', async () => {
      const a = await routedAddresses(8002);
      return a?.length === 2 ? a : undefined;
    }),
    both,
  );

  step('both workers routed');
  await setNodeLink(state.name, 3, 'down');
  // Node 3 is cut off: etcd drops its instance when the 2 s lease runs out, and the frontend's watch sees it.
  assert.deepEqual(
    await eventually('node 3 to leave the routing table', async () => {
      const a = await routedAddresses(8002);
      return a?.length === 1 ? a : undefined;
    }),
    [state.addresses[2]],
  );
  step('node 3 left the routing table');
  const before2 = (await requestsServed(2, 9202)) ?? 0;
  for (let i = 0; i < 3; i++) {
    const answer = await complete(8002, `Share some wisdom on science, ${i}.`);
    assert.equal(answer.status, 200, `${answer.error}\n${describeLogs()}`);
  }
  assert.equal(await requestsServed(2, 9202), before2 + 3, 'all three went to the worker in node 2');

  step('three requests served by node 2');
  await setNodeLink(state.name, 3, 'up');
  // The worker in node 3 lost its lease (exit 3), its supervisor restarts it, and it registers again.
  assert.deepEqual(
    await eventually('node 3 to be routed to again', async () => {
      const a = await routedAddresses(8002);
      return a?.length === 2 ? a : undefined;
    }),
    both,
  );
  step('node 3 routed again');
  assert.match(
    logs.get('worker-3') ?? '',
    /\[supervisor\] exit 3;/,
    'the worker left on its lease-lost exit code',
  );
  for (let i = 0; i < 4; i++) {
    const answer = await complete(8002, `Tell me a fortune about the sea, ${i}.`);
    assert.equal(answer.status, 200, `${answer.error}\n${describeLogs()}`);
  }
  const served3 = await requestsServed(3, 9203);
  assert.ok(served3 !== undefined && served3 >= 1, `node 3 served ${served3} requests after coming back`);
});
