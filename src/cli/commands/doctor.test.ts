import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { freePort } from '../../infra/local-servers.ts';
import type { InstanceInfo } from '../../protocols/discovery.ts';
import { createDiscovery } from '../../runtime/discovery/index.ts';
import { instanceKey } from '../../runtime/names.ts';
import { repoRoot } from '../../util/paths.ts';
import { freshNamespace, startInfra, type TestInfra } from '../../worker/testing/worker-kit.ts';

const DHW = join(repoRoot, 'bin', 'dhw.mjs');

function doctor(args: string[]): Promise<{ code: number | null; stdout: string }> {
  const child = spawn(process.execPath, [DHW, 'doctor', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  child.stdout.on('data', (d) => (stdout += d));
  return new Promise((resolve) => child.on('exit', (code) => resolve({ code, stdout })));
}

let infra: TestInfra | undefined;
after(async () => {
  await infra?.stop();
});

test('infra down: connectivity fails with the fix, registration is skipped, exit 1', {
  timeout: 20_000,
}, async () => {
  const [etcdPort, natsPort] = [await freePort(), await freePort()];
  const { code, stdout } = await doctor([
    '--etcd-endpoints',
    `http://127.0.0.1:${etcdPort}`,
    '--nats-server',
    `nats://127.0.0.1:${natsPort}`,
  ]);
  assert.equal(code, 1);
  assert.match(stdout, new RegExp(`✖ etcd +Cannot reach etcd at http://127.0.0.1:${etcdPort}`));
  assert.match(stdout, /fix: Is etcd running\? Try: `dhw infra up`/);
  assert.match(stdout, new RegExp(`✖ NATS +Cannot reach NATS at nats://127.0.0.1:${natsPort}`));
  assert.match(stdout, /- workers +discovery is unreachable/);
  // The checks that do not need the servers still run, in the curriculum's order.
  const order = [
    '1. Network connectivity',
    '2. Service registration',
    '3. Memory',
    '4. Versions',
    '5. Model files',
  ];
  const positions = order.map((title) => stdout.indexOf(title));
  assert.ok(
    positions.every((p, i) => p >= 0 && (i === 0 || p > positions[i - 1]!)),
    stdout,
  );
  assert.match(stdout, /✔ tokenizer +tokenizer\.json: 2048 tokens/);
  assert.match(stdout, /2 failed/);
});

describe('infra up', () => {
  before(async () => {
    infra = await startInfra();
  });

  test('infra up, no workers: connectivity passes, registration warns, exit 0', {
    timeout: 20_000,
  }, async () => {
    const running = infra!;
    const { code, stdout } = await doctor([
      '--etcd-endpoints',
      running.etcd.endpoint,
      '--nats-server',
      running.nats.url,
      '--namespace',
      freshNamespace(),
    ]);
    assert.equal(code, 0, stdout);
    assert.match(stdout, new RegExp(`✔ etcd +reachable at ${running.etcd.endpoint} \\(etcd 3\\.`));
    assert.match(stdout, /✔ NATS .*JetStream on/);
    assert.match(stdout, /! workers +no worker instances registered/);
    assert.match(stdout, /fix: start one: `dhw worker --engine mocker`/);
    assert.match(stdout, /0 failed/);
  });

  test('a registered instance whose port is dead fails the registration check', {
    timeout: 20_000,
  }, async () => {
    const running = infra!;
    const namespace = freshNamespace();
    const discovery = await createDiscovery({ backend: 'etcd', etcdEndpoints: running.etcd.endpoint });
    try {
      const deadPort = await freePort();
      const endpoint = { namespace, component: 'backend', endpoint: 'generate' };
      const stale: InstanceInfo = {
        ...endpoint,
        instanceId: discovery.leaseId(),
        transport: { tcp: `127.0.0.1:${deadPort}` },
      };
      await discovery.put(instanceKey(endpoint, stale.instanceId), stale);
      const { code, stdout } = await doctor([
        '--etcd-endpoints',
        running.etcd.endpoint,
        '--nats-server',
        running.nats.url,
        '--namespace',
        namespace,
      ]);
      assert.equal(code, 1, stdout);
      assert.match(
        stdout,
        new RegExp(
          `✖ instance ${stale.instanceId} +registered at 127.0.0.1:${deadPort} but nothing answers there \\(ECONNREFUSED\\)`,
        ),
      );
      assert.match(stdout, new RegExp(`ss -tlnp \\| grep ${deadPort}`));
    } finally {
      await discovery.close();
    }
  });
});
