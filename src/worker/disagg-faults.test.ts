/**
 * Disaggregated serving under faults, worker side: `dhw worker --role prefill|decode` child processes on
 * real etcd + NATS, the two hops of a request driven by hand over the request plane so each fault lands
 * at a known point: the prefill worker answered (its blocks are held) and THEN it dies, vanishes from etcd,
 * or never answers the data connection. Whatever happens, the decode worker must prefill locally (the
 * fallback), produce the same tokens as aggregated serving, leak no KV block on either side, and say so in
 * its log and in `dynamo_component_kv_transfer_fallbacks_total{reason}`.
 *
 * Mocker workers for speed: their token at a position depends only on the request id and the position, so
 * the same request served aggregated afterwards is the reference. Mocker pulls move no bytes (only the
 * release notification crosses), so the faults that need real bytes — a READ that times out, a pull of
 * real KV — run on the scratch engine (fortune-llama) against the model's golden greedy output.
 *
 * Nothing here asserts a duration: every wait polls a metric or an event with a generous bound.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startAll } from '../infra/testing/lifecycle-kit.ts';
import type { EngineOutput, EngineRequest } from '../protocols/engine.ts';
import type { KvTransferParams } from '../protocols/kv-transfer.ts';
import { createDiscovery, type Discovery } from '../runtime/discovery/index.ts';
import { leaseFromInstanceId } from '../runtime/names.ts';
import { TcpRequestPlane } from '../runtime/request-plane/index.ts';
import { sweepStaleShmDirs } from '../transfer/index.ts';
import { defaultModelDir } from '../util/paths.ts';
import {
  agentRecord,
  generate,
  metricByLabel,
  prefillRemotely,
  type RoleWorker,
  readMetric,
  spawnRoleWorker,
  startSilentPeer,
  waitForMetric,
  withRemotePrefill,
} from './testing/disagg-kit.ts';
import { freshNamespace, greedyRequest, startInfra, type TestInfra } from './testing/worker-kit.ts';

const FALLBACKS = 'dynamo_component_kv_transfer_fallbacks_total';
const TRANSFERS = 'dynamo_component_kv_transfer_total';
const BYTES = 'dynamo_component_kv_transfer_bytes_total';
const HELD = 'dynamo_component_kv_transfer_held_blocks';
const EXPIRED = 'dynamo_component_kv_transfer_hold_expired_total';
const ACTIVE = 'dynamo_component_kvstats_active_blocks';

const BLOCK_SIZE = 16;
const PROMPT_TOKENS = 100; // 6 full blocks + a partial one
const MAX_TOKENS = 24;
// Real bounds, not latencies: the good read and the real-bytes pull must land inside them while the test
// polls metrics between hops, so they leave room for a loaded box (the expiry tests wait them out).
const HOLD_TIMEOUT_MS = 4000;
const PULL_TIMEOUT_MS = 4000;

let infra: TestInfra;
let observer: Discovery;
let namespace: string;
const plane = new TcpRequestPlane();
const workers: RoleWorker[] = [];

before(async () => {
  infra = await startInfra();
  observer = await createDiscovery({ backend: 'etcd', etcdEndpoints: infra.etcd.endpoint });
  namespace = freshNamespace();
});
after(async () => {
  await Promise.all(workers.map((w) => w.kill9()));
  sweepStaleShmDirs('/dev/shm'); // the killed workers' shm listener directories
  await plane.close();
  await observer?.close();
  await infra?.stop();
});

async function startWorker(
  role: 'prefill' | 'decode',
  extra: string[] = [],
  engine: 'mocker' | 'scratch' = 'mocker',
): Promise<RoleWorker> {
  const worker = await spawnRoleWorker(infra, namespace, role, { extra, engine });
  workers.push(worker);
  return worker;
}

/** A prompt no other test uses, so a decode worker's prefix cache never hides a pull. */
let promptSeed = 0;
function freshPrompt(length = PROMPT_TOKENS): number[] {
  promptSeed++;
  return Array.from({ length }, (_, i) => 100 + ((promptSeed * 7919 + i * 31) % 1900));
}

/** fortune-llama's golden greedy continuations (prompt ids → greedy ids). */
function goldenSamples(): { prompt_ids: number[]; greedy_ids: number[] }[] {
  return JSON.parse(readFileSync(join(defaultModelDir, 'golden.json'), 'utf8')).samples;
}

const tokens = (outputs: EngineOutput[]) => outputs.map((o) => o.tokenId);

/** A decode hop must complete in full: every requested token, finished by length. */
function assertComplete(outputs: EngineOutput[], maxTokens: number): void {
  assert.equal(outputs.length, maxTokens, 'every requested token arrived');
  assert.equal(outputs.at(-1)?.finishReason, 'length');
}

/**
 * Send `decode` the decode hop with `params` whose pull cannot succeed, and check the fallback: the output
 * is complete and equal to `expected` (default: the same request served aggregated on `decode` afterwards,
 * so that its cache could not have helped), exactly one fallback is counted, the decode worker's active KV
 * blocks return to 0, and its log has a warning for the request. Returns the metric's reason label.
 */
async function expectLocalFallback(
  decode: RoleWorker,
  request: EngineRequest,
  params: KvTransferParams,
  expected?: number[],
): Promise<string> {
  const before = metricByLabel(await decode.metrics(), FALLBACKS, 'reason');
  const logMark = decode.output().length;
  const outputs = await generate(plane, decode, withRemotePrefill(request, params));
  assertComplete(outputs, request.stopping.maxTokens);
  assert.ok(
    (outputs[0]?.numCachedTokens ?? 0) < request.promptTokenIds.length - 1,
    'the decode worker computed the prompt itself (nothing counted as transferred)',
  );

  let reason = '';
  await waitForMetric(decode, FALLBACKS, (v) => v === sum(before) + 1, 'one fallback counted');
  for (const [label, value] of metricByLabel(await decode.metrics(), FALLBACKS, 'reason'))
    if (value === (before.get(label) ?? 0) + 1) reason = label;
  await waitForMetric(decode, ACTIVE, (v) => v === 0, "the decode worker's KV blocks freed");
  const warnings = decode
    .output()
    .slice(logMark)
    .split('\n')
    .filter((l) => / WARN /.test(l) && l.includes(`requestId=${request.requestId}`));
  assert.ok(
    warnings.some((l) => /prefilling the prompt locally/.test(l)),
    `a warning says ${request.requestId} is prefilled locally:\n${decode.output().slice(logMark)}`,
  );

  const reference = expected ?? tokens(await generate(plane, decode, request));
  assert.deepEqual(tokens(outputs), reference, 'the same tokens as aggregated serving');
  return reason;
}

const sum = (m: Map<string, number>) => [...m.values()].reduce((a, b) => a + b, 0);

describe('disaggregation faults, mocker workers', () => {
  let decode: RoleWorker;
  /** One prefill worker per test that kills or starves it (started together: process start dominates). */
  let doomed: RoleWorker;
  let revoked: RoleWorker;
  let holding: RoleWorker;
  before(async () => {
    [decode, doomed, revoked, holding] = await startAll([
      startWorker('decode'),
      startWorker('prefill'),
      // Losing its lease, it exits (Dynamo's behaviour, --exit-on-lease-loss) after draining what it holds: 1 s.
      startWorker('prefill', ['--drain-timeout', '1', '--exit-on-lease-loss']),
      startWorker('prefill', ['--kv-hold-timeout', String(HOLD_TIMEOUT_MS)]),
    ]);
  });

  test('prefill answers, then is killed -9 before the pull: connection fallback, same tokens, nothing leaked', async () => {
    const request = greedyRequest(freshPrompt(), MAX_TOKENS, 'killed-before-pull');
    const params = await prefillRemotely(plane, doomed, request);
    assert.equal(params.remoteAgent, doomed.instanceId, 'the agent name is the instance id');
    assert.equal(params.numTokens, PROMPT_TOKENS);
    assert.equal(params.remoteBlockIds.length, Math.ceil(PROMPT_TOKENS / BLOCK_SIZE));
    await waitForMetric(doomed, HELD, (v) => v === params.remoteBlockIds.length, 'the blocks held');

    await doomed.kill9(); // its agent record stays in etcd until the lease's TTL: the dial is refused
    const logMark = decode.output().length;
    const reason = await expectLocalFallback(decode, request, params);
    assert.match(reason, /^(connection|peer_gone)$/);
    assert.match(
      decode.output().slice(logMark),
      /Cannot open a data connection|No metadata for transfer agent/,
    );
  });

  test('a prefill worker gone from etcd (lease revoked): UnknownAgentError named, fallback reason peer_gone', async () => {
    const request = greedyRequest(freshPrompt(), MAX_TOKENS, 'vanished-peer');
    const params = await prefillRemotely(plane, revoked, request);

    const res = await fetch(`${infra.etcd.endpoint}/v3/lease/revoke`, {
      method: 'POST',
      body: JSON.stringify({ ID: leaseFromInstanceId(revoked.instanceId) }),
    });
    assert.equal(res.status, 200);
    assert.equal(await revoked.exited, 3, 'the prefill worker saw its lease lost and exited');
    assert.equal(await agentRecord(observer, namespace, revoked.instanceId), undefined, 'its record is gone');

    const logMark = decode.output().length;
    assert.equal(await expectLocalFallback(decode, request, params), 'peer_gone');
    assert.match(decode.output().slice(logMark), /No metadata for transfer agent/);

    // An agent that never existed fails the same way.
    const ghost = greedyRequest(freshPrompt(), MAX_TOKENS, 'ghost-peer');
    const ghostParams = { ...params, remoteAgent: 'ghost0000', remoteRequestId: ghost.requestId };
    assert.equal(await expectLocalFallback(decode, ghost, ghostParams), 'peer_gone');
  });

  test('prefill-side leaks: a read releases the held blocks; an unread hold expires after --kv-hold-timeout', async () => {
    const read = greedyRequest(freshPrompt(), MAX_TOKENS, 'read-releases');
    const params = await prefillRemotely(plane, holding, read);
    await waitForMetric(holding, HELD, (v) => v === params.remoteBlockIds.length, 'the blocks held');
    const okBefore = await readMetric(decode, TRANSFERS, { outcome: 'ok' });
    const outputs = await generate(plane, decode, withRemotePrefill(read, params));
    assertComplete(outputs, MAX_TOKENS);
    assert.equal(
      outputs[0]?.numCachedTokens,
      PROMPT_TOKENS - 1,
      'decode computed only the last prompt token',
    );
    await waitForMetric(decode, TRANSFERS, (v) => v === okBefore + 1, 'one good transfer counted', {
      labels: { outcome: 'ok' },
    });
    await waitForMetric(holding, HELD, (v) => v === 0, 'the release notification to free the held blocks');
    assert.equal(await readMetric(holding, EXPIRED), 0, 'released by the notification, not by expiry');
    await waitForMetric(holding, ACTIVE, (v) => v === 0, "the prefill worker's blocks all free");

    const unread = greedyRequest(freshPrompt(), MAX_TOKENS, 'nobody-reads');
    const held = await prefillRemotely(plane, holding, unread);
    await waitForMetric(holding, HELD, (v) => v === held.remoteBlockIds.length, 'held for a decode worker');
    await waitForMetric(holding, HELD, (v) => v === 0, 'the unread hold to expire', { timeoutMs: 20_000 });
    await waitForMetric(holding, EXPIRED, (v) => v === 1, 'the expiry counted');
    await waitForMetric(holding, ACTIVE, (v) => v === 0, "the prefill worker's blocks all free");
    assert.match(holding.output(), new RegExp(`expired.*requestId=${unread.requestId}`));

    // A decode worker that comes too late refuses the expired hold (the blocks may be someone else's now).
    const logMark = decode.output().length;
    assert.equal(await expectLocalFallback(decode, unread, held), 'hold_expired');
    assert.match(decode.output().slice(logMark), /may belong to another request now/);
  });
});

describe('disaggregation faults, scratch engine (fortune-llama): real bytes', () => {
  let prefill: RoleWorker;
  let decode: RoleWorker;
  before(async () => {
    [prefill, decode] = await startAll([
      startWorker('prefill', [], 'scratch'),
      startWorker('decode', ['--kv-pull-timeout', String(PULL_TIMEOUT_MS)], 'scratch'),
    ]);
  });

  test('a peer that accepts the data connection and never answers: the READ times out, fallback, golden output', async () => {
    const sample = goldenSamples()[2]!;
    const decodeRecord = await agentRecord(observer, namespace, decode.instanceId);
    assert.ok(decodeRecord, 'the decode worker published its transfer-agent metadata');
    // Same regions and layout as a real worker: only the silence is wrong.
    const peer = await startSilentPeer(infra.etcd.endpoint, namespace, 'silentpeer', decodeRecord.regions);
    try {
      const request = greedyRequest(sample.prompt_ids, sample.greedy_ids.length, 'silent-peer');
      const params: KvTransferParams = {
        remoteAgent: peer.name,
        remoteRegion: 'kv',
        remoteRequestId: request.requestId,
        remoteBlockIds: Array.from({ length: Math.ceil(sample.prompt_ids.length / BLOCK_SIZE) }, (_, i) => i),
        numTokens: sample.prompt_ids.length,
        firstTokenId: 0,
        expiresAtMs: Date.now() + 60_000,
      };
      const logMark = decode.output().length;
      assert.equal(await expectLocalFallback(decode, request, params, sample.greedy_ids), 'timeout');
      assert.ok(peer.accepted() >= 1, 'the decode worker did dial the silent peer');
      assert.match(decode.output().slice(logMark), /did not finish within/);
    } finally {
      await peer.close();
    }
  });

  test('a pull of real KV gives the golden output; with the prefill worker killed -9, the fallback does too', async () => {
    const [sample, other] = goldenSamples();
    assert.ok(sample && other);
    const request = greedyRequest(sample.prompt_ids, sample.greedy_ids.length, 'real-bytes');
    const params = await prefillRemotely(plane, prefill, request);
    const bytesBefore = await readMetric(decode, BYTES);
    const outputs = await generate(plane, decode, withRemotePrefill(request, params));
    assert.deepEqual(tokens(outputs), sample.greedy_ids, 'pulled KV continues exactly as aggregated serving');
    assert.equal(
      outputs[0]?.numCachedTokens,
      sample.prompt_ids.length - 1,
      'only the last prompt token computed',
    );
    await waitForMetric(decode, BYTES, (v) => v > bytesBefore, 'real bytes counted in');
    await waitForMetric(prefill, HELD, (v) => v === 0, 'released after the read');

    const second = greedyRequest(other.prompt_ids, other.greedy_ids.length, 'real-bytes-killed');
    const secondParams = await prefillRemotely(plane, prefill, second);
    await prefill.kill9();
    const reason = await expectLocalFallback(decode, second, secondParams, other.greedy_ids);
    assert.match(reason, /^(connection|peer_gone)$/);
  });
});
