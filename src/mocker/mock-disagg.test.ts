/**
 * Disaggregated serving in the mocker: the same hold ledger and remote-load path as the real engine,
 * with SimulatedKvConnector charging the link's time on a VirtualClock (simulated ms, exact by design).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type KvLoadPlan, type KvTransferEvent, VirtualClock } from '../engine/index.ts';
import {
  collect,
  decodeLeg,
  nextTurn,
  prefillLeg,
  runDisaggregated,
  tokenIds,
} from '../engine/testing/disagg-kit.ts';
import { DEFAULT_SAMPLING, type EngineRequest } from '../protocols/engine.ts';
import { asBlockId, asRequestId } from '../protocols/ids.ts';
import type { KvTransferParams } from '../protocols/kv-transfer.ts';
import { parseLinkSpec, transferMs } from '../util/link-spec.ts';
import { MockEngine } from './mock-engine.ts';
import { pseudoToken } from './mock-executor.ts';
import { KvLoadAbortedError, SimulatedKvConnector } from './simulated-kv-connector.ts';

const TOKENS = { vocabSize: 32_000, eosTokenIds: [2], eosProbability: 0 };
const LINK = parseLinkSpec('8mbit,2ms'); // 1 MB/s: 1 000 bytes per simulated ms, plus 2 ms
const KV_BYTES_PER_TOKEN = 1000;
const range = (n: number, from = 0) => Array.from({ length: n }, (_, i) => from + i);

function request(id: string, prompt: number[], maxTokens: number): EngineRequest {
  return {
    requestId: asRequestId(id),
    promptTokenIds: prompt,
    sampling: DEFAULT_SAMPLING,
    stopping: { maxTokens, stopTokenIds: [2], ignoreEos: false },
  };
}

function params(blocks: number): KvTransferParams {
  return {
    remoteAgent: 'prefill-0',
    remoteRegion: 'kv',
    remoteRequestId: 'r',
    remoteBlockIds: range(blocks),
    numTokens: blocks * 16,
    firstTokenId: 7,
    expiresAtMs: Date.now() + 30_000,
  };
}

function plan(blocks: number): KvLoadPlan {
  return {
    requestId: asRequestId('r'),
    params: params(blocks),
    localBlockIds: range(blocks).map(asBlockId),
    remoteBlockIds: range(blocks),
    numTokens: blocks * 16 - 1,
  };
}

/** A prefill mocker and a decode mocker on one virtual clock, the decode side releasing via notify. */
function pair() {
  const clock = new VirtualClock();
  const prefill = new MockEngine({ clock, workerId: 'prefill-0', numKvBlocks: 64 });
  const connector = new SimulatedKvConnector({
    link: LINK,
    kvBytesPerToken: KV_BYTES_PER_TOKEN,
    clock,
    notify: (p) => {
      prefill.releaseHeld(p.remoteRequestId);
    },
  });
  const decode = new MockEngine({ clock, workerId: 'decode-0', numKvBlocks: 64, kvConnector: connector });
  const events: Array<KvTransferEvent & { atMs: number }> = [];
  for (const e of [prefill, decode]) e.onKvTransfer((ev) => events.push({ ...ev, atMs: clock.now() }));
  return { clock, prefill, decode, events };
}

describe('SimulatedKvConnector', () => {
  it('charges latency + bytes / bandwidth on the clock, then notifies', async () => {
    const clock = new VirtualClock();
    const notified: Array<{ id: string; atMs: number }> = [];
    const connector = new SimulatedKvConnector({
      link: LINK,
      kvBytesPerToken: KV_BYTES_PER_TOKEN,
      clock,
      notify: (p) => {
        notified.push({ id: p.remoteRequestId, atMs: clock.now() });
      },
    });
    const result = await clock.runUntil(connector.loadBlocks(plan(3), new AbortController().signal));
    assert.deepEqual(result, { bytes: 48_000, ms: 50 }); // 3 blocks × 16 tokens × 1000 B; 48 ms + 2 ms
    assert.equal(clock.now(), 50);
    assert.deepEqual(notified, [{ id: 'r', atMs: 50 }]);
    assert.equal(
      new SimulatedKvConnector({ link: LINK, kvBytesPerToken: 10, clock, blockSize: 4 }).bytesFor(plan(2)),
      80,
    );
  });

  it('rejects at once when aborted, and does not notify', async () => {
    const clock = new VirtualClock();
    let notified = 0;
    const connector = new SimulatedKvConnector({
      link: LINK,
      kvBytesPerToken: KV_BYTES_PER_TOKEN,
      clock,
      notify: () => {
        notified++;
      },
    });
    const ac = new AbortController();
    const load = connector.loadBlocks(plan(2), ac.signal);
    ac.abort();
    await assert.rejects(load, KvLoadAbortedError);
    await assert.rejects(connector.loadBlocks(plan(1), ac.signal), KvLoadAbortedError);
    clock.advance(1000);
    await nextTurn();
    assert.equal(notified, 0);
  });
});

describe('MockEngine disaggregated', () => {
  it('holds on the prefill side, pulls on the decode side in simulated link time, same tokens', async () => {
    const { clock, prefill, decode, events } = pair();
    const req = request('r1', range(50, 100), 5);
    const run = await clock.runUntil(runDisaggregated(prefill, decode, req));
    assert.deepEqual(
      tokenIds(run.decode),
      range(5).map((k) => pseudoToken('r1', 50 + k, TOKENS)),
    );
    assert.equal(run.decode[0]!.numCachedTokens, 49);
    assert.equal(run.params.numTokens, 50);
    assert.equal(run.params.remoteBlockIds.length, 4);
    assert.equal(run.params.firstTokenId, pseudoToken('r1', 50, TOKENS));
    const kinds = events.map((e) => e.kind);
    assert.deepEqual(kinds, ['held', 'released', 'loaded']);
    const loaded = events[2]!;
    assert.ok(loaded.kind === 'loaded');
    const bytes = 4 * 16 * KV_BYTES_PER_TOKEN; // 49 tokens: 4 blocks, the last one partial but whole
    assert.deepEqual(
      { bytes: loaded.bytes, ms: loaded.ms, numTokens: loaded.numTokens },
      { bytes, ms: transferMs(LINK, bytes), numTokens: 49 },
    );
    assert.equal(
      loaded.atMs - events[0]!.atMs,
      66,
      'the pull took 64 000 B / 1 MB/s + 2 ms of simulated time',
    );
    for (const e of [prefill, decode]) {
      assert.equal(e.kv.numActiveBlocks(), 0);
      assert.equal(e.heldRequests(), 0);
    }
  });

  it('a decode-side prefix hit pulls only the missing blocks (fewer bytes)', async () => {
    const { clock, prefill, decode, events } = pair();
    await clock.runUntil(runDisaggregated(prefill, decode, request('a', range(40, 100), 2)));
    const run = await clock.runUntil(
      runDisaggregated(prefill, decode, request('b', [...range(32, 100), ...range(13, 900)], 2)),
    );
    assert.equal(run.decode[0]!.numCachedTokens, 44);
    const loaded = events.filter((e) => e.kind === 'loaded').at(-1)!;
    assert.ok(loaded.kind === 'loaded');
    assert.deepEqual([loaded.bytes, loaded.numTokens], [16 * KV_BYTES_PER_TOKEN, 12]);
    assert.equal(decode.kv.numActiveBlocks(), 0);
  });

  it('held blocks count in load metrics until released', async () => {
    const prefill = new MockEngine({ speedupRatio: 0, numKvBlocks: 10 });
    await collect(prefill, prefillLeg(request('h', range(40), 3)));
    assert.equal(prefill.heldBlocks(), 3);
    const m = prefill.loadMetrics();
    assert.deepEqual([m.kvUsedBlocks, m.numRunning, m.numWaiting], [3, 0, 0]);
    assert.ok(Math.abs(m.gpuCacheUsagePerc - 0.3) < 1e-9);
    assert.ok(prefill.releaseHeld('h'));
    assert.equal(prefill.loadMetrics().kvUsedBlocks, 0);
  });

  it('a request waiting for blocks runs once a hold is released', async () => {
    const prefill = new MockEngine({ speedupRatio: 0, numKvBlocks: 4 });
    await collect(prefill, prefillLeg(request('big', range(48), 1))); // holds 3 of 4 blocks
    const waiting = collect(prefill, request('next', range(40, 500), 2)); // needs 3 blocks
    for (let i = 0; i < 5; i++) await nextTurn();
    assert.equal(prefill.loadMetrics().numWaiting, 1);
    prefill.releaseHeld('big');
    assert.equal((await waiting).length, 2);
    assert.equal(prefill.kv.numActiveBlocks(), 0);
  });

  it('an abort during a simulated pull ends the stream; blocks are freed once the pull settles', async () => {
    const { clock, prefill, decode, events } = pair();
    const req = request('x', range(50), 5);
    const prefillOuts = await clock.runUntil(collect(prefill, prefillLeg(req)));
    const ac = new AbortController();
    const streamed = collect(decode, decodeLeg(req, prefillOuts.at(-1)!.kvTransferParams!), ac.signal);
    while (decode.kv.numActiveBlocks() === 0) await nextTurn(); // admitted: pulling
    ac.abort();
    assert.deepEqual(await streamed, []);
    await nextTurn();
    assert.equal(decode.kv.numActiveBlocks(), 0);
    assert.equal(prefill.heldRequests(), 1, 'not released: the pull never finished');
    assert.ok(!events.some((e) => e.kind === 'loaded' || e.kind === 'load_failed'));
    await prefill.close();
    assert.equal(prefill.kv.numActiveBlocks(), 0);
  });

  it('works with prefix caching off on both sides', async () => {
    const clock = new VirtualClock();
    const prefill = new MockEngine({ clock, workerId: 'prefill-0', enablePrefixCaching: false });
    const connector = new SimulatedKvConnector({
      link: LINK,
      kvBytesPerToken: KV_BYTES_PER_TOKEN,
      clock,
      notify: (p) => {
        prefill.releaseHeld(p.remoteRequestId);
      },
    });
    const decode = new MockEngine({ clock, enablePrefixCaching: false, kvConnector: connector });
    const run = await clock.runUntil(runDisaggregated(prefill, decode, request('nc', range(33), 3)));
    assert.deepEqual(
      tokenIds(run.decode),
      range(3).map((k) => pseudoToken('nc', 33 + k, TOKENS)),
    );
    assert.equal(run.decode[0]!.numCachedTokens, 32);
    assert.deepEqual([prefill.kv.numActiveBlocks(), decode.kv.numActiveBlocks()], [0, 0]);
  });

  it('without a connector the decode mocker prefills locally', async () => {
    const prefill = new MockEngine({ speedupRatio: 0, workerId: 'p' });
    const decode = new MockEngine({ speedupRatio: 0, workerId: 'd' });
    const events: KvTransferEvent[] = [];
    decode.onKvTransfer((e) => events.push(e));
    const run = await runDisaggregated(prefill, decode, request('n', range(30), 3));
    assert.deepEqual(
      tokenIds(run.decode),
      range(3).map((k) => pseudoToken('n', 30 + k, TOKENS)),
    );
    assert.equal(run.decode[0]!.numCachedTokens, 0);
    assert.deepEqual(
      events.map((e) => e.kind),
      ['load_failed'],
    );
    await prefill.close();
    assert.equal(prefill.kv.numActiveBlocks(), 0);
  });

  it("a stager gets each hold's prompt blocks, and unstages them before they are freed", async () => {
    const prefill = new MockEngine({ speedupRatio: 0, numKvBlocks: 16, kvHoldTimeoutMs: 30 });
    const calls: Array<{ op: string; id: string; blocks: number[]; activeBlocks: number }> = [];
    const record = (op: string) => (id: string, blocks: readonly number[]) =>
      calls.push({ op, id, blocks: [...blocks], activeBlocks: prefill.kv.numActiveBlocks() });
    prefill.setKvStager({ stage: record('stage'), unstage: record('unstage') });
    const outs = await collect(prefill, prefillLeg(request('s', range(40), 1)));
    const params = outs.at(-1)!.kvTransferParams!;
    assert.deepEqual(calls[0], { op: 'stage', id: 's', blocks: params.remoteBlockIds, activeBlocks: 3 });
    assert.equal(prefill.stagedRequests(), 1);
    assert.ok(prefill.releaseHeld('s'));
    // Unstaged while the blocks were still allocated: nothing can have rewritten them yet.
    assert.deepEqual(calls[1], { op: 'unstage', id: 's', blocks: params.remoteBlockIds, activeBlocks: 3 });
    assert.equal(prefill.kv.numActiveBlocks(), 0);

    await collect(prefill, prefillLeg(request('t', range(20, 300), 1)));
    while (prefill.heldRequests() > 0) await new Promise((r) => setTimeout(r, 10)); // the 30 ms hold expires
    assert.deepEqual(
      calls.slice(2).map((c) => [c.op, c.id, c.activeBlocks]),
      [
        ['stage', 't', 2],
        ['unstage', 't', 2],
      ],
    );
    await collect(prefill, prefillLeg(request('u', range(17, 600), 1)));
    await prefill.close();
    assert.deepEqual(
      calls.slice(4).map((c) => [c.op, c.id]),
      [
        ['stage', 'u'],
        ['unstage', 'u'],
      ],
    );
    assert.deepEqual([prefill.stagedRequests(), prefill.kv.numActiveBlocks()], [0, 0]);
  });
});
