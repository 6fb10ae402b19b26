/**
 * Disaggregated serving through shared memory: `dhw worker --role prefill|decode` child processes on one host
 * (`--kv-transfer shm`: tcp + unix + shm), real etcd + NATS, the two hops driven by hand. The
 * prefill worker stages a held prompt's blocks into its /dev/shm mirror; the decode worker's READ is a
 * preadv from there. Checked: the pull is carried by shm (the transport metric), served from blocks staged
 * ahead (nothing copied during the READ), the output is the model's golden greedy output, and nothing
 * stays in /dev/shm — after the release notification, after a hold expires, and after the prefill worker
 * is killed -9 (the decode worker removes the dead worker's directory when its lease takes it out of etcd).
 *
 * Nothing here asserts a duration: every wait polls a metric or the file system with a generous bound.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startAll } from '../infra/testing/lifecycle-kit.ts';
import type { EngineOutput } from '../protocols/engine.ts';
import { createDiscovery, type Discovery } from '../runtime/discovery/index.ts';
import { TcpRequestPlane } from '../runtime/request-plane/index.ts';
import { defaultModelDir } from '../util/paths.ts';
import {
  agentRecord,
  generate,
  prefillRemotely,
  type RoleWorker,
  readMetric,
  spawnRoleWorker,
  waitForMetric,
  withRemotePrefill,
} from './testing/disagg-kit.ts';
import {
  eventually,
  freshNamespace,
  greedyRequest,
  startInfra,
  type TestInfra,
} from './testing/worker-kit.ts';

const PULLS = 'dynamo_component_kv_transfer_pulls_total';
const STAGED = 'dynamo_component_kv_transfer_staged_blocks';
const STAGED_BYTES = 'dynamo_component_kv_transfer_staged_bytes_total';
const HELD = 'dynamo_component_kv_transfer_held_blocks';
const EXPIRED = 'dynamo_component_kv_transfer_hold_expired_total';
const FALLBACKS = 'dynamo_component_kv_transfer_fallbacks_total';
const ACTIVE = 'dynamo_component_kvstats_active_blocks';

let infra: TestInfra;
let observer: Discovery;
const namespace = freshNamespace();
const plane = new TcpRequestPlane();
const workers: RoleWorker[] = [];

before(async () => {
  infra = await startInfra();
  observer = await createDiscovery({ backend: 'etcd', etcdEndpoints: infra.etcd.endpoint });
});
after(async () => {
  // SIGTERM: a worker that stops normally removes its own /dev/shm directory (checked in the last test).
  await Promise.all(workers.map((w) => w.stop()));
  await plane.close();
  await observer?.close();
  await infra?.stop();
});

function goldenSamples(): { prompt_ids: number[]; greedy_ids: number[] }[] {
  return JSON.parse(readFileSync(join(defaultModelDir, 'golden.json'), 'utf8')).samples;
}

const tokens = (outputs: EngineOutput[]) => outputs.map((o) => o.tokenId);

/** The worker's shm listener directory, from the transfer-agent record its peers read. */
async function shmDir(worker: RoleWorker): Promise<string> {
  const record = await agentRecord(observer, namespace, worker.instanceId);
  const endpoint = record?.endpoints.find((e) => e.kind === 'shm');
  assert.ok(endpoint, `the ${worker.role} worker offers shm: ${JSON.stringify(record?.endpoints)}`);
  return endpoint.address.slice('shm://'.length);
}

/** Bytes of the KV region's mirror in /dev/shm (0: truncated, its tmpfs pages given back). */
function mirrorBytes(dir: string): number {
  const file = join(dir, 'kv.kv');
  return existsSync(file) ? statSync(file).size : 0;
}

describe('disaggregated prefill/decode on one host pull through shared memory', () => {
  let decode: RoleWorker;
  let prefill: RoleWorker;
  let shortHold: RoleWorker;
  before(async () => {
    const spawn = (role: 'prefill' | 'decode', extra: string[] = []) =>
      spawnRoleWorker(infra, namespace, role, {
        engine: 'scratch',
        extra: ['--kv-transfer', 'shm', ...extra],
      }).then((w) => {
        workers.push(w);
        return w;
      });
    [decode, prefill, shortHold] = await startAll([
      spawn('decode'),
      spawn('prefill'),
      spawn('prefill', ['--kv-hold-timeout', '1500']),
    ]);
  });

  test('the pull is a preadv of blocks staged at hold time; golden output; the mirror empties on release', async () => {
    const sample = goldenSamples()[1]!;
    const request = greedyRequest(sample.prompt_ids, sample.greedy_ids.length, 'shm-pull');
    const params = await prefillRemotely(plane, prefill, request);
    const blocks = params.remoteBlockIds.length;
    assert.ok(blocks >= 2, 'the prompt crosses a block boundary');
    await waitForMetric(prefill, STAGED, (v) => v === blocks, 'the held blocks staged');
    const dir = await shmDir(prefill);
    assert.ok(mirrorBytes(dir) > 0, 'the mirror holds the staged blocks');

    const outputs = await generate(plane, decode, withRemotePrefill(request, params));
    assert.deepEqual(tokens(outputs), sample.greedy_ids, 'pulled KV continues exactly as aggregated serving');
    assert.equal(
      outputs[0]?.numCachedTokens,
      sample.prompt_ids.length - 1,
      'only the last prompt token computed',
    );
    await waitForMetric(decode, PULLS, (v) => v === 1, 'one pull carried by shm', {
      labels: { transport: 'shm' },
    });
    assert.equal(await readMetric(decode, FALLBACKS), 0);
    assert.equal(
      await readMetric(prefill, STAGED_BYTES, { when: 'on_read' }),
      0,
      'nothing copied during the READ',
    );
    assert.ok((await readMetric(prefill, STAGED_BYTES, { when: 'ahead' })) > 0);

    for (const [metric, what] of [
      [HELD, 'the release notification to free the hold'],
      [STAGED, 'the held blocks unstaged'],
      [ACTIVE, "the prefill worker's blocks all free"],
    ] as const)
      await waitForMetric(prefill, metric, (v) => v === 0, what);
    await waitForMetric(decode, ACTIVE, (v) => v === 0, "the decode worker's blocks all free");
    assert.equal(mirrorBytes(dir), 0, 'the mirror is truncated once nothing is staged');
  });

  test('an unpulled hold expires: its blocks are unstaged and the mirror emptied', async () => {
    const sample = goldenSamples()[0]!;
    const request = greedyRequest(sample.prompt_ids, sample.greedy_ids.length, 'shm-expire');
    const params = await prefillRemotely(plane, shortHold, request);
    await waitForMetric(
      shortHold,
      STAGED,
      (v) => v === params.remoteBlockIds.length,
      'the held blocks staged',
    );
    const dir = await shmDir(shortHold);
    assert.ok(mirrorBytes(dir) > 0);
    await waitForMetric(shortHold, EXPIRED, (v) => v === 1, 'the hold to expire', { timeoutMs: 20_000 });
    await waitForMetric(shortHold, STAGED, (v) => v === 0, 'the expired hold unstaged');
    await waitForMetric(shortHold, ACTIVE, (v) => v === 0, "the prefill worker's blocks all free");
    assert.equal(mirrorBytes(dir), 0);
  });

  test('prefill killed -9 with staged blocks: the decode worker falls back, then removes its /dev/shm leftovers', async () => {
    const sample = goldenSamples()[3]!;
    const request = greedyRequest(sample.prompt_ids, sample.greedy_ids.length, 'shm-killed');
    const params = await prefillRemotely(plane, prefill, request);
    await waitForMetric(prefill, STAGED, (v) => v === params.remoteBlockIds.length, 'the held blocks staged');
    const dir = await shmDir(prefill);
    await prefill.kill9();
    assert.ok(existsSync(dir), 'a killed process removes nothing itself');

    const outputs = await generate(plane, decode, withRemotePrefill(request, params));
    assert.deepEqual(tokens(outputs), sample.greedy_ids, 'the local fallback gives the same output');
    await waitForMetric(decode, FALLBACKS, (v) => v === 1, 'the fallback counted');
    await waitForMetric(decode, ACTIVE, (v) => v === 0, "the decode worker's blocks all free");
    // The lease (3 s TTL) expires, etcd deletes the agent record, the decode worker's directory drops the
    // peer and, its process being dead, removes its mirror directory.
    await eventually(() => !existsSync(dir), "the dead prefill worker's /dev/shm directory removed", 20_000);
  });

  test('workers that stop normally leave nothing in /dev/shm', async () => {
    const dirs = await Promise.all([decode, shortHold].map(shmDir));
    await Promise.all([decode.stop(), shortHold.stop()]);
    for (const dir of dirs) assert.equal(existsSync(dir), false, `${dir} removed at stop`);
  });
});
