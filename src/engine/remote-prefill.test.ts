import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { KvCacheManager } from '../kv/index.ts';
import { DEFAULT_SAMPLING } from '../protocols/engine.ts';
import { asRequestId } from '../protocols/ids.ts';
import type { KvTransferParams } from '../protocols/kv-transfer.ts';
import { remoteSpan } from './remote-prefill.ts';
import { Scheduler } from './scheduler.ts';
import { Sequence } from './sequence.ts';

const BS = 16;
const range = (n: number, from = 0) => Array.from({ length: n }, (_, i) => from + i);

function params(numTokens: number): KvTransferParams {
  return {
    remoteAgent: 'prefill-0',
    remoteRegion: 'kv',
    remoteRequestId: 'p',
    remoteBlockIds: range(Math.ceil(numTokens / BS), 100),
    numTokens,
    firstTokenId: 1,
    expiresAtMs: Date.now() + 30_000,
  };
}

function remoteSeq(id: string, prompt: number[], handoff = params(prompt.length)): Sequence {
  return new Sequence({
    requestId: asRequestId(id),
    promptTokenIds: prompt,
    sampling: { ...DEFAULT_SAMPLING, temperature: 0 },
    stopping: { maxTokens: 4, stopTokenIds: [], ignoreEos: true },
    maxModelLen: 10_000,
    hashBlockSize: BS,
    kvTransfer: { doRemotePrefill: handoff },
  });
}

function setup(numBlocks = 32) {
  const kv = new KvCacheManager({ numBlocks, blockSize: BS, enablePrefixCaching: true });
  return { kv, s: new Scheduler(kv, { maxNumSeqs: 4, maxNumBatchedTokens: 64 }) };
}

describe('remoteSpan', () => {
  it('pulls blocks [hits, ceil((P−1)/bs)): the last prompt token is always computed locally', () => {
    const span = (p: number, hits: number) => remoteSpan(p, hits, BS, params(p));
    assert.deepEqual(span(1, 0), { first: 0, end: 0, numTokens: 0 });
    assert.deepEqual(span(2, 0), { first: 0, end: 1, numTokens: 1 });
    assert.deepEqual(span(16, 0), { first: 0, end: 1, numTokens: 15 });
    assert.deepEqual(span(17, 0), { first: 0, end: 1, numTokens: 16 });
    assert.deepEqual(span(17, 1), { first: 1, end: 1, numTokens: 0 });
    assert.deepEqual(span(49, 2), { first: 2, end: 3, numTokens: 16 });
    assert.deepEqual(span(50, 2), { first: 2, end: 4, numTokens: 17 });
  });

  it('refuses a hand-off for another prompt length or another block size', () => {
    assert.match((remoteSpan(40, 0, BS, params(41)) as { error: string }).error, /41 prompt tokens.*40/);
    const other = { ...params(40), remoteBlockIds: range(5) }; // 40 tokens at block size 8
    assert.match((remoteSpan(40, 0, BS, other) as { error: string }).error, /--block-size/);
  });
});

describe('scheduler: decode-side admission', () => {
  it('admits into loading with blocks for P−1 tokens, then runs one token after the pull', () => {
    const { kv, s } = setup();
    const seq = remoteSeq('a', range(50, 1));
    s.add(seq);
    const out = s.schedule();
    assert.deepEqual(out.scheduled, [], 'nothing to compute until the pull settles');
    assert.equal(out.remote.length, 1);
    const admission = out.remote[0]!;
    assert.ok(admission.kind === 'load');
    assert.deepEqual(admission.plan.localBlockIds, kv.getBlockTable(seq.requestId));
    assert.deepEqual(admission.plan.remoteBlockIds, [100, 101, 102, 103]);
    assert.equal(admission.plan.numTokens, 49);
    assert.deepEqual([seq.status, s.loading.length, s.hasUnfinished()], ['loading', 1, false]);
    assert.equal(seq.remotePrefill, undefined, 'one pull per request');

    s.finishLoad(seq);
    assert.deepEqual([seq.status, seq.numComputedTokens, seq.numCachedTokens], ['running', 49, 49]);
    assert.equal(kv.stats().numCachedBlocks, 3, 'the pulled full blocks are in the prefix cache');
    const next = s.schedule();
    assert.deepEqual(
      next.scheduled.map((e) => [e.numNewTokens, e.sample, e.isPrefill]),
      [[1, true, true]],
    );
  });

  it('a failed pull frees the blocks and puts the sequence first in line for a local prefill', () => {
    const { kv, s } = setup();
    const seq = remoteSeq('a', range(40, 1));
    s.add(seq);
    s.add(remoteSeq('b', range(10, 500), params(10)));
    s.schedule();
    s.failLoad(seq);
    assert.deepEqual([seq.status, seq.numComputedTokens, s.waiting[0]], ['waiting', 0, seq]);
    assert.equal(kv.getBlockTable(seq.requestId).length, 0);
    const out = s.schedule();
    assert.deepEqual(
      out.scheduled.map((e) => [e.seq.requestId, e.numNewTokens]),
      [['a', 40]],
    );
    assert.deepEqual(out.remote, [], 'no second pull');
  });

  it('an abort while loading keeps the blocks: they are the pull’s until it settles', () => {
    const { kv, s } = setup();
    const seq = remoteSeq('a', range(40, 1));
    s.add(seq);
    s.schedule();
    assert.equal(s.abort(seq.requestId), seq);
    assert.equal(seq.status, 'finished');
    assert.equal(kv.numActiveBlocks(), 3);
    kv.free(seq.requestId);
    assert.equal(kv.numActiveBlocks(), 0);
  });

  it('waits for blocks like any admission, and counts loading sequences against maxNumSeqs', () => {
    const { s } = setup(4);
    const big = remoteSeq('big', range(60, 1)); // 59 tokens: 4 blocks
    const small = remoteSeq('small', range(20, 300));
    s.add(big);
    s.add(small);
    s.schedule();
    assert.deepEqual([s.loading.length, s.waiting.length], [1, 1]);
    assert.ok(small.remotePrefill !== undefined, 'not admitted: still to pull');

    const kv = new KvCacheManager({ numBlocks: 32, blockSize: BS, enablePrefixCaching: true });
    const one = new Scheduler(kv, { maxNumSeqs: 1, maxNumBatchedTokens: 64 });
    one.add(remoteSeq('x', range(20, 1)));
    one.add(remoteSeq('y', range(20, 300)));
    one.schedule();
    assert.deepEqual([one.loading.length, one.waiting.length], [1, 1], 'a loading sequence holds a seat');
  });

  it('pulls nothing when local prefix hits cover [0, P−1), and rejects a hand-off that does not fit', () => {
    const { s } = setup();
    const warm = remoteSeq('warm', range(17, 1));
    s.add(warm);
    s.schedule();
    s.finishLoad(warm); // block 0 is cached now
    const covered = remoteSeq('covered', range(17, 1));
    const misfit = remoteSeq('misfit', range(30, 900), params(31));
    s.add(covered);
    s.add(misfit);
    const out = s.schedule();
    assert.deepEqual(
      out.remote.map((r) => [r.seq.requestId, r.kind]),
      [
        ['covered', 'release_only'],
        ['misfit', 'rejected'],
      ],
    );
    assert.deepEqual(
      out.scheduled.map((e) => [e.seq.requestId, e.numNewTokens]),
      [
        ['warm', 1],
        ['covered', 1],
        ['misfit', 30],
      ],
    );
    assert.equal(covered.numCachedTokens, 16);
  });
});
