/**
 * `dhw worker` as a real child process against real etcd + NATS: what happens to its registration when it
 * is killed, stopped gracefully, or cannot reach etcd (a lost lease: lease-loss.test.ts), and what `dhw ls` shows meanwhile.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { freePort } from '../infra/local-servers.ts';
import type { EngineOutput } from '../protocols/engine.ts';
import { createDiscovery, type Discovery } from '../runtime/discovery/index.ts';
import { instancesPrefix, modelCardsPrefix } from '../runtime/names.ts';
import { TcpRequestPlane } from '../runtime/request-plane/index.ts';
import { repoRoot } from '../util/paths.ts';
import { EventLog, freshNamespace, greedyRequest, startInfra, type TestInfra } from './testing/worker-kit.ts';

const DHW = join(repoRoot, 'bin', 'dhw.mjs');
const LEASE_TTL_S = 3;

let infra: TestInfra;
let observer: Discovery;
const plane = new TcpRequestPlane();
const children = new Set<ChildProcess>();

before(async () => {
  infra = await startInfra();
  observer = await createDiscovery({ backend: 'etcd', etcdEndpoints: infra.etcd.endpoint });
});
after(async () => {
  for (const child of children) child.kill('SIGKILL');
  await plane.close();
  await observer?.close();
  await infra?.stop();
});

interface RunningWorker {
  child: ChildProcess;
  instanceId: string;
  address: string;
  stderr: () => string;
  exitCode: Promise<number | null>;
}

function run(
  args: string[],
  env: Record<string, string> = {},
): { child: ChildProcess; stdout: () => string; stderr: () => string; exitCode: Promise<number | null> } {
  const child = spawn(process.execPath, [DHW, ...args], {
    env: { ...process.env, ETCD_ENDPOINTS: infra.etcd.endpoint, NATS_SERVER: infra.nats.url, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  let out = '';
  let err = '';
  child.stdout?.on('data', (d) => (out += d));
  child.stderr?.on('data', (d) => (err += d));
  const exitCode = new Promise<number | null>((resolve) =>
    child.on('exit', (code) => {
      children.delete(child);
      resolve(code);
    }),
  );
  return { child, stdout: () => out, stderr: () => err, exitCode };
}

/** Start `dhw worker --engine mocker` in its own process and wait for its "Worker <id> serving" line. */
async function startWorker(namespace: string, extra: string[] = []): Promise<RunningWorker> {
  const proc = run([
    'worker',
    '--engine',
    'mocker',
    '--namespace',
    namespace,
    '--lease-ttl',
    String(LEASE_TTL_S),
    '--system-port',
    '0',
    ...extra,
  ]);
  const deadline = Date.now() + 20_000;
  for (;;) {
    const match = /Worker ([0-9a-f]+) serving \S+ on (\S+?),/.exec(proc.stdout());
    if (match) return { ...proc, instanceId: match[1]!, address: match[2]! };
    const exited = await Promise.race([
      proc.exitCode,
      new Promise((r) => setTimeout(() => r('running'), 50)),
    ]);
    if (exited !== 'running') throw new Error(`worker exited (${exited}) before serving:\n${proc.stderr()}`);
    if (Date.now() > deadline) throw new Error(`worker did not start in 20 s:\n${proc.stderr()}`);
  }
}

async function watchNamespace(namespace: string): Promise<{ log: EventLog; close: () => Promise<void> }> {
  const log = new EventLog();
  const watches = await Promise.all([
    observer.watch(instancesPrefix({ namespace }), log.push),
    observer.watch(modelCardsPrefix({ namespace }), log.push),
  ]);
  return { log, close: async () => void (await Promise.all(watches.map((w) => w.close()))) };
}

test(`kill -9: the worker's keys are gone within TTL (${LEASE_TTL_S} s) + 2 s; dhw ls showed it before`, async () => {
  const namespace = freshNamespace();
  const worker = await startWorker(namespace);
  const watch = await watchNamespace(namespace);
  const instanceKey = `/dynamo/v1/instances/${namespace}/backend/generate/${worker.instanceId}`;
  try {
    const ls = run(['ls', '--json', '--namespace', namespace]);
    assert.equal(await ls.exitCode, 0, ls.stderr());
    const listing = JSON.parse(ls.stdout()) as {
      models: { name: string; instances: string[] }[];
      instances: { instanceId: string; transport: { tcp: string }; leaseTtlSeconds: number }[];
    };
    assert.deepEqual(
      listing.models.map((m) => [m.name, m.instances]),
      [['fortune-llama', [worker.instanceId]]],
    );
    assert.equal(listing.instances[0]?.transport.tcp, worker.address);
    const ttl = listing.instances[0]?.leaseTtlSeconds ?? -1;
    assert.ok(ttl >= 0 && ttl <= LEASE_TTL_S, `lease TTL left ${ttl}`);

    worker.child.kill('SIGKILL');
    assert.equal(await worker.exitCode, null);
    await watch.log.waitFor(
      (e) => e.type === 'delete' && e.key === instanceKey,
      'the instance key to expire',
      (LEASE_TTL_S + 2) * 1000,
    );
    assert.deepEqual(await observer.list(instancesPrefix({ namespace })), []);
    assert.deepEqual(await observer.list(modelCardsPrefix({ namespace })), []);
  } finally {
    await watch.close();
  }
});

test('SIGTERM: keys removed at once, the in-flight request still completes, exit 0', async () => {
  const namespace = freshNamespace();
  const worker = await startWorker(namespace, ['--speedup-ratio', '1']);
  const watch = await watchNamespace(namespace);
  const instanceKey = `/dynamo/v1/instances/${namespace}/backend/generate/${worker.instanceId}`;
  try {
    const maxTokens = 300;
    const outputs: EngineOutput[] = [];
    let tokensWhenUnregistered = -1;
    const unregistered = watch.log
      .waitFor((e) => e.type === 'delete' && e.key === instanceKey, 'the instance key delete', 10_000)
      .then(() => {
        tokensWhenUnregistered = outputs.length;
      });
    for await (const output of plane.call(
      worker.address,
      'generate',
      greedyRequest([3, 4, 5, 6], maxTokens),
    )) {
      outputs.push(output as EngineOutput);
      if (outputs.length === 5) worker.child.kill('SIGTERM');
    }
    await unregistered;
    assert.equal(outputs.length, maxTokens);
    assert.equal(outputs.at(-1)?.finishReason, 'length');
    assert.ok(
      tokensWhenUnregistered >= 0 && tokensWhenUnregistered < maxTokens,
      `unregistered after ${tokensWhenUnregistered} of ${maxTokens} tokens: keys must go before the drain ends`,
    );
    assert.equal(await worker.exitCode, 0, worker.stderr());
    assert.deepEqual(await observer.list(instancesPrefix({ namespace })), []);
  } finally {
    await watch.close();
  }
});

test('etcd unreachable at start: a clear error and exit 1, no hang', { timeout: 15_000 }, async () => {
  const port = await freePort();
  const proc = run(['worker', '--engine', 'mocker', '--etcd-endpoints', `http://127.0.0.1:${port}`]);
  assert.equal(await proc.exitCode, 1);
  assert.match(
    proc.stderr(),
    new RegExp(`Cannot reach etcd at http://127.0.0.1:${port}\\. Is etcd running\\? Try: \`dhw infra up\``),
  );
});
