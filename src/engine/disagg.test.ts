/**
 * Disaggregated serving between two real engines in one process (fortune-llama): a prefill engine that
 * holds its blocks, a decode engine that pulls them through CopyKvConnector. The output must be the
 * tokens aggregated serving gives, whatever the prompt's length against the block size, and no block
 * may leak on either side, whether the pull succeeds, fails, or is aborted.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DEFAULT_SAMPLING, type EngineRequest, explainEngineOutput } from '../protocols/engine.ts';
import { asRequestId } from '../protocols/ids.ts';
import type { KvCacheEventData } from '../protocols/kv-events.ts';
import { InvalidRequestError } from '../util/errors.ts';
import { defaultModelDir } from '../util/paths.ts';
import type { KvConnector, KvLoadPlan, KvLoadResult } from './kv-connector.ts';
import type { KvTransferEvent } from './kv-transfer-events.ts';
import { type EngineOptions, LlmEngine } from './llm-engine.ts';
import { CopyKvConnector } from './testing/copy-kv-connector-kit.ts';
import {
  collect,
  decodeLeg,
  deferred,
  nextTurn,
  prefillLeg,
  runDisaggregated,
  tokenIds,
} from './testing/disagg-kit.ts';

const golden = JSON.parse(readFileSync(join(defaultModelDir, 'golden.json'), 'utf8')) as {
  samples: Array<{ prompt_ids: number[]; greedy_ids: number[] }>;
};
/** 241 tokens of real text: every golden prompt and continuation, end to end. */
const text = golden.samples.flatMap((s) => [...s.prompt_ids, ...s.greedy_ids]);
const BS = 16;

let counter = 0;
function request(prompt: number[], over: Partial<EngineRequest> = {}): EngineRequest {
  return {
    requestId: asRequestId(`d${counter++}`),
    promptTokenIds: prompt,
    sampling: { ...DEFAULT_SAMPLING, temperature: 0 },
    stopping: { maxTokens: 12, stopTokenIds: [2], ignoreEos: false },
    ...over,
  };
}

const engines: LlmEngine[] = [];
async function engine(opts: Partial<EngineOptions> = {}): Promise<LlmEngine> {
  const e = await LlmEngine.create({ modelDir: defaultModelDir, numKvBlocks: 128, ...opts });
  engines.push(e);
  return e;
}

/** A prefill engine, a decode engine pulling from it, and the events both report. */
async function pair(decodeOpts: Partial<EngineOptions> = {}) {
  const prefill = await engine({ workerId: 'prefill-0' });
  const stored: KvCacheEventData[] = [];
  const decode = await engine({ workerId: 'decode-0', events: (e) => stored.push(e.data), ...decodeOpts });
  const connector = new CopyKvConnector(decode.kvTensors, new Map([['prefill-0', prefill]]));
  if (!('kvConnector' in decodeOpts)) decode.setKvConnector(connector);
  const events: KvTransferEvent[] = [];
  prefill.onKvTransfer((e) => events.push(e));
  decode.onKvTransfer((e) => events.push(e));
  return { prefill, decode, connector, events, stored };
}

function assertNoBlocksInUse(...es: LlmEngine[]): void {
  for (const e of es) {
    assert.equal(e.heldRequests(), 0, 'held requests');
    assert.equal(e.kv.numActiveBlocks(), 0, 'blocks in use');
    e.kv.checkInvariants();
  }
}

describe('disaggregated prefill/decode (fortune-llama)', () => {
  let reference: LlmEngine;
  before(async () => {
    reference = await engine({ enablePrefixCaching: false });
  });
  after(async () => {
    for (const e of engines) await e.close();
  });

  it('greedy: the tokens of aggregated serving for prompts of k·bs−1, k·bs, k·bs+1, 1 and 2 tokens', async () => {
    const { prefill, decode, connector, events, stored } = await pair();
    const lengths = [1, 2, BS - 1, BS, BS + 1, 3 * BS - 1, 3 * BS, 3 * BS + 1];
    for (const [i, n] of lengths.entries()) {
      const req = request(text.slice(i * 20, i * 20 + n)); // distinct first blocks: no decode-side hits
      const expected = await collect(reference, req);
      const plansBefore = connector.plans.length;
      const run = await runDisaggregated(prefill, decode, req);

      assert.deepEqual(tokenIds(run.decode), tokenIds(expected), `prompt of ${n}`);
      assert.equal(run.decode[0]!.numCachedTokens, n - 1, `numCachedTokens, prompt of ${n}`);
      assert.equal(run.prefill.length, 1);
      assert.deepEqual(
        { ...run.params, expiresAtMs: 0 },
        {
          remoteAgent: 'prefill-0',
          remoteRegion: 'kv',
          remoteRequestId: req.requestId,
          remoteBlockIds: run.params.remoteBlockIds,
          numTokens: n,
          firstTokenId: expected[0]!.tokenId,
          expiresAtMs: 0,
        },
      );
      assert.equal(run.params.remoteBlockIds.length, Math.ceil(n / BS));
      assert.ok(run.params.expiresAtMs > Date.now());
      assert.equal(connector.plans.length, plansBefore + 1, 'one plan per request (release-only for n=1)');
      const plan = connector.plans.at(-1)!;
      assert.equal(plan.localBlockIds.length, Math.ceil((n - 1) / BS), `blocks pulled, prompt of ${n}`);
      assert.deepEqual(plan.remoteBlockIds, run.params.remoteBlockIds.slice(0, plan.localBlockIds.length));
      assert.equal(plan.numTokens, n - 1);
      await nextTurn(); // a release-only plan (n = 1) is not awaited by the decode side
      assertNoBlocksInUse(prefill, decode);
    }
    const kinds = events.map((e) => e.kind);
    assert.equal(kinds.filter((k) => k === 'held').length, lengths.length);
    assert.equal(kinds.filter((k) => k === 'released').length, lengths.length);
    assert.equal(kinds.filter((k) => k === 'loaded').length, lengths.length - 1, 'n = 1 pulls nothing');
    const loaded = events.find((e) => e.kind === 'loaded' && e.numTokens === 3 * BS);
    assert.ok(loaded?.kind === 'loaded' && loaded.bytes > 0);
    assert.ok(
      stored.some((e) => e.type === 'stored'),
      'pulled full blocks enter the prefix cache',
    );
  });

  it('a decode-side prefix hit pulls only the blocks the decode side lacks', async () => {
    const { prefill, decode, connector } = await pair();
    const first = request(text.slice(0, 40));
    await runDisaggregated(prefill, decode, first);
    const second = request([...text.slice(0, 2 * BS), ...text.slice(100, 113)]); // 45 tokens, 2 blocks shared
    const expected = await collect(reference, second);
    const run = await runDisaggregated(prefill, decode, second);
    const plan = connector.plans.at(-1)!;
    assert.equal(plan.localBlockIds.length, 1, 'only block 2 of [0, ceil(44/16)) is pulled');
    assert.equal(plan.numTokens, 44 - 2 * BS);
    assert.deepEqual(plan.remoteBlockIds, [run.params.remoteBlockIds[2]]);
    assert.equal(run.decode[0]!.numCachedTokens, 44);
    assert.deepEqual(tokenIds(run.decode), tokenIds(expected));
    assertNoBlocksInUse(prefill, decode);
  });

  it('a seeded temperature > 0 request samples the same tokens as aggregated serving', async () => {
    const { prefill, decode } = await pair();
    const req = request(text.slice(60, 97), {
      sampling: { ...DEFAULT_SAMPLING, temperature: 0.9, topP: 0.95, seed: 4242 },
      stopping: { maxTokens: 16, stopTokenIds: [], ignoreEos: true },
    });
    const expected = await collect(reference, req);
    const run = await runDisaggregated(prefill, decode, req);
    assert.deepEqual(tokenIds(run.decode), tokenIds(expected));
    assertNoBlocksInUse(prefill, decode);
  });

  it('the prefill side holds blocks until released, counts them as in use, and frees them on reuse of the id', async () => {
    const prefill = await engine({ workerId: 'prefill-hold' });
    const events: KvTransferEvent[] = [];
    prefill.onKvTransfer((e) => events.push(e));
    const req = request(text.slice(0, 40));
    const outs = await collect(prefill, prefillLeg(req));
    assert.equal(outs.at(-1)!.finishReason, 'length');
    assert.equal(explainEngineOutput(outs.at(-1)), undefined, 'the hand-off passes the wire validator');
    assert.equal(prefill.heldRequests(), 1);
    assert.equal(prefill.heldBlocks(), 3);
    assert.equal(prefill.kv.numActiveBlocks(), 3);
    assert.equal(prefill.loadMetrics().kvUsedBlocks, 3);
    assert.deepEqual(events.at(-1), { kind: 'held', requestId: req.requestId, blocks: 3 });
    assert.equal(prefill.releaseHeld(req.requestId), true);
    assert.equal(prefill.releaseHeld(req.requestId), false, 'released once');
    assert.deepEqual(events.at(-1), { kind: 'released', requestId: req.requestId, blocks: 3 });
    assertNoBlocksInUse(prefill);

    await collect(prefill, prefillLeg(req));
    const plain = await collect(prefill, { ...req }); // same id: the old hold goes first
    assert.equal(plain.at(-1)!.kvTransferParams, undefined);
    assert.deepEqual(
      events.slice(-2).map((e) => e.kind),
      ['held', 'released'],
    );
    assertNoBlocksInUse(prefill);
  });

  it('an expired hold frees its blocks and says so', async () => {
    const prefill = await engine({ workerId: 'prefill-expiry', kvHoldTimeoutMs: 20 });
    const expired = deferred<KvTransferEvent>();
    prefill.onKvTransfer((e) => {
      if (e.kind === 'hold_expired') expired.resolve(e);
    });
    const req = request(text.slice(5, 30));
    await collect(prefill, prefillLeg(req));
    assert.equal(prefill.heldBlocks(), 2);
    const keepAlive = setInterval(() => {}, 1000); // the hold's timer is unref'd: it keeps nothing alive
    try {
      assert.deepEqual(await expired.promise, { kind: 'hold_expired', requestId: req.requestId, blocks: 2 });
    } finally {
      clearInterval(keepAlive);
    }
    assert.equal(prefill.releaseHeld(req.requestId), false);
    assertNoBlocksInUse(prefill);
  });

  it('close releases every hold', async () => {
    const prefill = await LlmEngine.create({ modelDir: defaultModelDir, numKvBlocks: 64 });
    await collect(prefill, prefillLeg(request(text.slice(0, 33))));
    await collect(prefill, prefillLeg(request(text.slice(40, 41))));
    assert.equal(prefill.heldRequests(), 2);
    await prefill.close();
    assertNoBlocksInUse(prefill);
  });

  it('a failed pull prefills locally: same tokens, a load_failed event, no leaked blocks', async () => {
    const refusing: KvConnector = {
      loadBlocks: async () => {
        throw new Error('connection refused by prefill-0');
      },
    };
    const { prefill, decode, events } = await pair({ kvConnector: refusing });
    const req = request(text.slice(30, 79));
    const expected = await collect(reference, req);
    const run = await runDisaggregated(prefill, decode, req);
    assert.deepEqual(tokenIds(run.decode), tokenIds(expected));
    assert.equal(run.decode[0]!.numCachedTokens, 0, 'recomputed locally: no hits here');
    const failed = events.find((e) => e.kind === 'load_failed');
    assert.ok(failed?.kind === 'load_failed');
    assert.equal(failed.reason, 'load_error');
    assert.match(failed.error.message, /connection refused/);
    assert.equal(decode.kv.numActiveBlocks(), 0);
    assert.equal(prefill.heldRequests(), 1, 'nobody released it: it waits for expiry');
    prefill.releaseHeld(req.requestId);
    assertNoBlocksInUse(prefill, decode);
  });

  it('a hand-off that does not fit the prompt, or no connector at all, prefills locally', async () => {
    const { prefill, decode, events } = await pair();
    const req = request(text.slice(10, 50));
    const expected = await collect(reference, req);
    const prefillOuts = await collect(prefill, prefillLeg(req));
    const params = prefillOuts.at(-1)!.kvTransferParams!;
    const wrong = { ...params, numTokens: params.numTokens + 1 };
    assert.deepEqual(tokenIds(await collect(decode, decodeLeg(req, wrong))), tokenIds(expected));
    const rejected = events.find((e) => e.kind === 'load_failed');
    assert.ok(rejected?.kind === 'load_failed' && rejected.reason === 'invalid_params');

    const lonely = await engine({ workerId: 'decode-no-connector' });
    const lonelyEvents: KvTransferEvent[] = [];
    lonely.onKvTransfer((e) => lonelyEvents.push(e));
    assert.deepEqual(tokenIds(await collect(lonely, decodeLeg(req, params))), tokenIds(expected));
    assert.ok(lonelyEvents[0]?.kind === 'load_failed' && lonelyEvents[0].reason === 'no_connector');
    prefill.releaseHeld(req.requestId);
    assertNoBlocksInUse(prefill, decode, lonely);
  });

  it('a malformed kvTransfer is an InvalidRequestError', async () => {
    const bad = { ...request([1, 2, 3]), kvTransfer: { doRemotePrefill: { remoteAgent: '' } } };
    await assert.rejects(collect(reference, bad as unknown as EngineRequest), InvalidRequestError);
  });

  it('an abort during a slow pull frees the blocks only once the pull settles; others keep running', async () => {
    const { prefill, decode } = await pair();
    const copier = new CopyKvConnector(decode.kvTensors, new Map([['prefill-0', prefill]]));
    const started = deferred<AbortSignal>();
    const gate = deferred();
    decode.setKvConnector({
      // A pull whose writes go on until it settles, whatever the signal says (the worst case allowed).
      loadBlocks: async (plan: KvLoadPlan, signal: AbortSignal): Promise<KvLoadResult> => {
        started.resolve(signal);
        await gate.promise;
        return copier.loadBlocks(plan, new AbortController().signal);
      },
    });
    const req = request(text.slice(0, 50));
    const prefillOuts = await collect(prefill, prefillLeg(req));
    const ac = new AbortController();
    const streamed = collect(decode, decodeLeg(req, prefillOuts.at(-1)!.kvTransferParams!), ac.signal);
    const signal = await started.promise;
    assert.equal(decode.loadMetrics().numWaiting, 1, 'the loading request counts as waiting');

    const other = request(text.slice(120, 140));
    assert.deepEqual(tokenIds(await collect(decode, other)), tokenIds(await collect(reference, other)));

    assert.equal(decode.kv.numActiveBlocks(), 4, 'blocks for 49 tokens, out to the pull');
    ac.abort();
    assert.equal(signal.aborted, true, 'the pull is told to stop');
    assert.deepEqual(await streamed, [], 'an aborted stream just ends');
    assert.equal(decode.kv.numActiveBlocks(), 4, 'not freed while the pull may still write');
    await assert.rejects(collect(decode, req), /already in flight/);
    gate.resolve();
    while (decode.kv.numActiveBlocks() > 0) await nextTurn();
    assertNoBlocksInUse(prefill, decode);
  });
});
