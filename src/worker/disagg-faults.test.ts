/**
 * Disaggregated serving under faults, worker side: `dhw worker --role prefill|decode` child processes on
 * real etcd + NATS, the two hops of a request driven by hand over the request plane so each fault lands
 * at a known point: the prefill worker answered (its blocks are held) and THEN it dies, vanishes from etcd,
 * or never answers the data connection. Whatever happens, the decode worker must prefill locally (the
 * fallback), produce the same tokens as aggregated serving, leak no KV block on either side, and say so in
 * its log and its `dynamo_component_kv_transfer_*` metrics. The mocker's token at a position depends only on
 * the request id and the position, so the same request id served aggregated is the reference; the scratch
 * case compares with the model's golden greedy output and proves real bytes moved.
 *
 * Nothing here asserts a duration: every wait polls a metric or an event with a generous bound.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { EngineOutput, EngineRequest } from '../protocols/engine.ts';
import type { KvTransferParams } from '../protocols/kv-transfer.ts';
import { createDiscovery, type Discovery } from '../runtime/discovery/index.ts';
import { leaseFromInstanceId } from '../runtime/names.ts';
import { TcpRequestPlane } from '../runtime/request-plane/index.ts';
import { agentMetadataKey } from '../transfer/agent-metadata.ts';
import { defaultModelDir } from '../util/paths.ts';
import {
  agentRecord,
  generate,
  metricLabelValues,
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
const HOLD_TIMEOUT_MS = 1500;
const TRANSFER_TIMEOUT_MS = 1500;

let infra: TestInfra;
let observer: Discovery;
let namespace: string;
let decode: RoleWorker;
/** Prefill workers, one per test that kills or starves one (started together: process start dominates). */
let doomedPrefill: RoleWorker;
let revokedPrefill: RoleWorker;
let holdingPrefill: RoleWorker;
const plane = new TcpRequestPlane();
const workers: RoleWorker[] = [];

/** A prompt no other test uses, so the decode worker's prefix cache never hides a pull. */
let promptSeed = 0;
function freshPrompt(length = PROMPT_TOKENS): number[] {
  promptSeed++;
  return Array.from({ length }, (_, i) => 100 + ((promptSeed * 7919 + i * 31) % 20_000));
}

async function startWorker(
  role: 'prefill' | 'decode',
  extra: string[] = [],
  engine: 'mocker' | 'scratch' = 'mocker',
): Promise<RoleWorker> {
  const worker = await spawnRoleWorker(infra, namespace, role, { extra, engine });
  workers.push(worker);
  return worker;
}

before(async () => {
  infra = await startInfra();
  observer = await createDiscovery({ backend: 'etcd', etcdEndpoints: infra.etcd.endpoint });
  namespace = freshNamespace();
  [decode, doomedPrefill, revokedPrefill, holdingPrefill] = await Promise.all([
    startWorker('decode', ['--kv-transfer-timeout', String(TRANSFER_TIMEOUT_MS)]),
    startWorker('prefill'),
    startWorker('prefill'),
    startWorker('prefill', ['--kv-hold-timeout', String(HOLD_TIMEOUT_MS)]),
  ]);
});
after(async () => {
  await Promise.all(workers.map((w) => w.kill9()));
  await plane.close();
  await observer?.close();
  await infra?.stop();
});

/** fortune-llama's golden greedy continuations (prompt ids → greedy ids). */
function goldenSamples(): { prompt_ids: number[]; greedy_ids: number[] }[] {
  return JSON.parse(readFileSync(join(defaultModelDir, 'golden.json'), 'utf8')).samples;
}

const tokens = (outputs: EngineOutput[]) => outputs.map((o) => o.tokenId);

/** The decode hop must complete in full: every requested token, finished by length. */
function assertComplete(outputs: EngineOutput[], maxTokens = MAX_TOKENS): void {
  assert.equal(outputs.length, maxTokens, 'every requested token arrived');
  assert.equal(outputs.at(-1)?.finishReason, 'length');
}

/**
 * Send the decode hop with `params` whose pull cannot succeed; check the fallback: complete output equal to
 * the aggregated reference, one fallback counted with a reason, an error-outcome transfer, the decode's
 * active KV blocks back to 0, and the reason named in its log. Returns the fallback reasons seen.
 */
async function expectLocalFallback(request: EngineRequest, params: KvTransferParams): Promise<string[]> {
  const fallbacksBefore = await readMetric(decode, FALLBACKS);
  const logMark = decode.output().length;
  const outputs = await generate(plane, decode, withRemotePrefill(request, params));
  assertComplete(outputs);
  assert.equal(outputs[0]?.numCachedTokens, 0, 'the decode worker computed the whole prompt itself');

  await waitForMetric(decode, FALLBACKS, (v) => v === fallbacksBefore + 1, 'one fallback counted');
  await waitForMetric(decode, ACTIVE, (v) => v === 0, "the decode worker's KV blocks freed");
  const log = decode.output().slice(logMark);
  assert.match(log, new RegExp(`WARN.*${request.requestId}|${request.requestId}.*WARN`), log);

  // Aggregated reference, same request id, after the fact (so its cache could not have helped the pull).
  const reference = await generate(plane, decode, request);
  assert.deepEqual(tokens(outputs), tokens(reference), 'the same tokens as aggregated serving');
  return metricLabelValues(await decode.metrics(), FALLBACKS, 'reason');
}

describe('disaggregation faults (mocker workers as processes, real etcd + NATS)', () => {
  test('prefill answers, then is killed -9 before the decode pull: local prefill, same tokens, nothing leaked', async () => {
    const prefill = doomedPrefill;
    const request = greedyRequest(freshPrompt(), MAX_TOKENS, 'killed-before-pull');
    const params = await prefillRemotely(plane, prefill, request);
    assert.equal(params.remoteAgent, prefill.instanceId, 'the agent name is the instance id');
    assert.equal(params.numTokens, PROMPT_TOKENS);
    assert.equal(params.remoteBlockIds.length, Math.ceil(PROMPT_TOKENS / BLOCK_SIZE));
    await waitForMetric(
      prefill,
      HELD,
      (v) => v === params.remoteBlockIds.length,
      'the prefill worker to hold the blocks',
    );

    await prefill.kill9();
    const errorsBefore = await readMetric(decode, TRANSFERS, { outcome: 'error' });
    await expectLocalFallback(request, params);
    await waitForMetric(decode, TRANSFERS, (v) => v === errorsBefore + 1, 'a failed transfer counted', {
      labels: { outcome: 'error' },
    });
  });

  test('a prefill worker gone from etcd (lease revoked): UnknownAgentError named, fallback counted by reason', async () => {
    const prefill = revokedPrefill;
    const request = greedyRequest(freshPrompt(), MAX_TOKENS, 'vanished-peer');
    const params = await prefillRemotely(plane, prefill, request);

    const res = await fetch(`${infra.etcd.endpoint}/v3/lease/revoke`, {
      method: 'POST',
      body: JSON.stringify({ ID: leaseFromInstanceId(prefill.instanceId) }),
    });
    assert.equal(res.status, 200);
    assert.equal(await prefill.exited, 3, 'the prefill worker saw its lease lost and exited');
    assert.equal(
      await agentRecord(observer, namespace, prefill.instanceId),
      undefined,
      'its agent record is gone',
    );

    const logMark = decode.output().length;
    const reasons = await expectLocalFallback(request, params);
    assert.match(decode.output().slice(logMark), /UnknownAgentError|No metadata for transfer agent/);
    assert.ok(
      reasons.some((r) => /unknown/i.test(r)),
      `a fallback reason names the unknown agent: ${reasons}`,
    );

    // An agent that never existed at all fails the same way.
    const ghost = greedyRequest(freshPrompt(), MAX_TOKENS, 'ghost-peer');
    await expectLocalFallback(ghost, {
      ...params,
      remoteAgent: 'ghost0000',
      remoteRequestId: ghost.requestId,
    });
  });

  test('a peer that accepts the data connection and never answers: the pull times out, fallback, request completes', async () => {
    const decodeRecord = await agentRecord(observer, namespace, decode.instanceId);
    assert.ok(decodeRecord, 'the decode worker published its transfer-agent metadata');
    const peer = await startSilentPeer(infra.etcd.endpoint, namespace, 'silentpeer', decodeRecord.regions);
    try {
      // The decode worker learns peers from etcd; wait until the record is there for everyone to read.
      assert.ok(await observer.get(agentMetadataKey(namespace, peer.name)));
      const request = greedyRequest(freshPrompt(), MAX_TOKENS, 'silent-peer');
      const params: KvTransferParams = {
        remoteAgent: peer.name,
        remoteRegion: 'kv',
        remoteRequestId: request.requestId,
        remoteBlockIds: Array.from({ length: Math.ceil(PROMPT_TOKENS / BLOCK_SIZE) }, (_, i) => i),
        numTokens: PROMPT_TOKENS,
        firstTokenId: 0,
        expiresAtMs: Date.now() + 60_000,
      };
      const logMark = decode.output().length;
      const reasons = await expectLocalFallback(request, params);
      assert.ok(peer.accepted() >= 1, 'the decode worker did dial the silent peer');
      assert.match(decode.output().slice(logMark), /TransferTimeoutError|did not finish within/);
      assert.ok(
        reasons.some((r) => /timeout/i.test(r)),
        `a fallback reason names the timeout: ${reasons}`,
      );
    } finally {
      await peer.close();
    }
  });

  test('prefill-side leaks: a read releases the held blocks; an unread hold expires after --kv-hold-timeout', async () => {
    const prefill = holdingPrefill;

    const read = greedyRequest(freshPrompt(), MAX_TOKENS, 'read-releases');
    const params = await prefillRemotely(plane, prefill, read);
    await waitForMetric(prefill, HELD, (v) => v === params.remoteBlockIds.length, 'the blocks held');
    const okBefore = await readMetric(decode, TRANSFERS, { outcome: 'ok' });
    const outputs = await generate(plane, decode, withRemotePrefill(read, params));
    assertComplete(outputs);
    assert.equal(
      outputs[0]?.numCachedTokens,
      PROMPT_TOKENS - 1,
      'decode recomputed only the last prompt token',
    );
    await waitForMetric(decode, TRANSFERS, (v) => v === okBefore + 1, 'one good transfer counted', {
      labels: { outcome: 'ok' },
    });
    await waitForMetric(prefill, HELD, (v) => v === 0, 'the release notification to free the held blocks');
    assert.equal(await readMetric(prefill, EXPIRED), 0, 'released by the notification, not by expiry');
    await waitForMetric(prefill, ACTIVE, (v) => v === 0, "the prefill worker's blocks all free");

    const unread = greedyRequest(freshPrompt(), MAX_TOKENS, 'nobody-reads');
    const held = await prefillRemotely(plane, prefill, unread);
    await waitForMetric(prefill, HELD, (v) => v === held.remoteBlockIds.length, 'held for the decode worker');
    await waitForMetric(prefill, HELD, (v) => v === 0, 'the unread hold to expire', { timeoutMs: 20_000 });
    await waitForMetric(prefill, EXPIRED, (v) => v === 1, 'the expiry counted');
    await waitForMetric(prefill, ACTIVE, (v) => v === 0, "the prefill worker's blocks all free");
    assert.match(prefill.output(), new RegExp(`expired.*${unread.requestId}|${unread.requestId}.*expired`));
  });
});

describe('disaggregation with real bytes (scratch engine, fortune-llama)', () => {
  test('a pull of real KV gives the golden greedy output; with the prefill worker killed, the fallback does too', async () => {
    const [sample, other] = goldenSamples();
    assert.ok(sample && other);
    const [prefill, decoder] = await Promise.all([
      startWorker('prefill', [], 'scratch'),
      startWorker('decode', [], 'scratch'),
    ]);

    const request = greedyRequest(sample.prompt_ids, sample.greedy_ids.length, 'real-bytes');
    const params = await prefillRemotely(plane, prefill, request);
    const outputs = await generate(plane, decoder, withRemotePrefill(request, params));
    assert.deepEqual(tokens(outputs), sample.greedy_ids, 'pulled KV continues exactly as aggregated serving');
    assert.equal(outputs[0]?.numCachedTokens, sample.prompt_ids.length - 1);
    assert.ok((await readMetric(decoder, BYTES)) > 0, 'real bytes crossed the data connection');
    await waitForMetric(prefill, HELD, (v) => v === 0, 'released after the read');

    const second = greedyRequest(other.prompt_ids, other.greedy_ids.length, 'real-bytes-killed');
    const secondParams = await prefillRemotely(plane, prefill, second);
    await prefill.kill9();
    const fallback = await generate(plane, decoder, withRemotePrefill(second, secondParams));
    assert.deepEqual(tokens(fallback), other.greedy_ids, 'local prefill after the failed pull: still golden');
    await waitForMetric(decoder, FALLBACKS, (v) => v === 1, 'the fallback counted');
    await waitForMetric(decoder, ACTIVE, (v) => v === 0, "the decode worker's KV blocks freed");
  });
});
