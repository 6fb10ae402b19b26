import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { KvCacheManager } from '../kv/index.ts';
import { DEFAULT_SAMPLING } from '../protocols/engine.ts';
import { asRequestId } from '../protocols/ids.ts';
import type { KvTransferRequest } from '../protocols/kv-transfer.ts';
import { computeBlockHashes } from '../tokens/block-hash.ts';
import { Xoshiro128 } from '../util/prng.ts';
import { Scheduler, type SchedulerOutput } from './scheduler.ts';
import { Sequence } from './sequence.ts';

const VOCAB = 1000;
const EOS = 999;

function makeSeq(
  id: string,
  prompt: number[],
  maxTokens = 8,
  stop: number[] = [],
  kvTransfer?: KvTransferRequest,
): Sequence {
  return new Sequence({
    kvTransfer,
    requestId: asRequestId(id),
    promptTokenIds: prompt,
    sampling: { ...DEFAULT_SAMPLING, temperature: 0 },
    stopping: { maxTokens, stopTokenIds: stop, ignoreEos: false },
    maxModelLen: 10_000,
    hashBlockSize: 16,
  });
}

/** A stand-in model: the next token depends only on the tokens so far, never on batching. */
function fakeNextToken(tokens: readonly number[]): number {
  let h = tokens.length;
  for (const t of tokens) h = (Math.imul(h, 31) + t) | 0;
  return (h >>> 0) % (VOCAB - 1); // never EOS
}

function runStep(s: Scheduler): SchedulerOutput {
  const out = s.schedule();
  const sampled = out.scheduled.map((e) => (e.sample ? fakeNextToken(e.seq.tokenIds) : undefined));
  s.update(out, sampled);
  return out;
}

function runToCompletion(s: Scheduler, maxSteps = 10_000): SchedulerOutput[] {
  const outs: SchedulerOutput[] = [];
  while (s.hasUnfinished()) {
    assert.ok(outs.length < maxSteps, 'scheduler made no progress');
    outs.push(runStep(s));
  }
  return outs;
}

const range = (n: number, from = 0) => Array.from({ length: n }, (_, i) => from + i);

function setup(numBlocks: number, opts: Partial<{ maxNumSeqs: number; maxNumBatchedTokens: number }> = {}) {
  const kv = new KvCacheManager({ numBlocks, blockSize: 16, enablePrefixCaching: true });
  const s = new Scheduler(kv, { maxNumSeqs: 8, maxNumBatchedTokens: 64, ...opts });
  return { kv, s };
}

describe('scheduler', () => {
  it('splits a long prompt across steps (chunked prefill) and samples only after the last chunk', () => {
    const { s } = setup(64, { maxNumBatchedTokens: 32 });
    const seq = makeSeq('a', range(100, 1), 3);
    s.add(seq);
    const outs = runToCompletion(s);
    assert.deepEqual(
      outs.map((o) => o.scheduled.map((e) => [e.numNewTokens, e.sample])),
      [[[32, false]], [[32, false]], [[32, false]], [[4, true]], [[1, true]], [[1, true]]],
    );
    assert.equal(seq.numOutputTokens, 3);
    assert.equal(seq.finishReason, 'length');
  });

  it('decodes every running sequence in the same step, ahead of a new prefill', () => {
    const { s } = setup(64, { maxNumBatchedTokens: 20 });
    for (const id of ['a', 'b', 'c']) s.add(makeSeq(id, range(5, 1), 10));
    runStep(s); // 3 prompts of 5
    s.add(makeSeq('long', range(60, 100), 2));
    const out = runStep(s);
    assert.deepEqual(
      out.scheduled.map((e) => [e.seq.requestId, e.numNewTokens]),
      [
        ['a', 1],
        ['b', 1],
        ['c', 1],
        ['long', 17],
      ],
    );
    assert.equal(out.numBatchedTokens, 20);
    assert.equal(out.numPrefillTokens, 17);
  });

  it('orders decodes first by isDecoding, not by tokens left: a one-token last prompt chunk is no decode', () => {
    const { s } = setup(64, { maxNumBatchedTokens: 20 });
    const b = makeSeq('b', range(3, 1), 8);
    const a = makeSeq('a', range(37, 100), 8);
    s.add(b);
    s.add(a);
    runStep(s); // b's prompt (3) and 17 of a's 37
    runStep(s); // b decodes, a gets 19 more: one prompt token left
    assert.deepEqual([a.numUncomputedTokens, a.isDecoding, b.isDecoding], [1, false, true]);
    // First come, first served keeps a prefilling sequence the newest in `running`, so decode-first order
    // and admission order agree; put a first by hand (as a priority policy could) to see the rule itself.
    s.running.reverse();
    const out = runStep(s);
    assert.deepEqual(
      out.scheduled.map((e) => [e.seq.requestId, e.numNewTokens, e.isPrefill]),
      [
        ['b', 1, false],
        ['a', 1, true],
      ],
    );
    assert.equal(out.numPrefillTokens, 1);
    assert.equal(a.isDecoding, true, 'its prompt is in the cache and its first token sampled');
  });

  it('admits at most maxNumSeqs sequences', () => {
    const { s } = setup(64, { maxNumSeqs: 2 });
    for (const id of ['a', 'b', 'c']) s.add(makeSeq(id, range(4, 1), 5));
    runStep(s);
    assert.equal(s.running.length, 2);
    assert.equal(s.waiting.length, 1);
    runToCompletion(s);
  });

  it('layer-wise: admits into loading with blocks for P−1 tokens, past its own prefix hit, no plan', () => {
    const { kv, s } = setup(64);
    s.add(makeSeq('warm', range(40, 1), 2));
    runToCompletion(s); // blocks 0 and 1 of this prefix are cached now
    const push = { awaitKvPush: { remoteAgent: 'p1' } };
    const seq = makeSeq('pushed', [...range(35, 1), 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7], 2, [], push);
    s.add(seq);
    const out = s.schedule();
    assert.equal(out.scheduled.length, 0, 'nothing computed: it waits for the push');
    assert.equal(seq.status, 'loading');
    const [admission] = out.remote;
    assert.equal(admission?.kind, 'receive');
    assert.ok(admission?.kind === 'receive');
    const table = kv.getBlockTable(seq.requestId);
    assert.equal(table.length, Math.ceil((47 - 1) / 16), 'blocks for P−1 tokens');
    assert.deepEqual(admission.plan.localBlockIds, table.slice(2), 'only the blocks past the local hit');
    assert.deepEqual(
      [admission.plan.firstBlock, admission.plan.numCachedTokens, admission.plan.numTokens],
      [2, 32, 46 - 32],
    );
    s.finishLoad(seq);
    assert.equal(seq.numCachedTokens, 46);
    const next = runStep(s);
    assert.deepEqual(
      next.scheduled.map((e) => [e.numNewTokens, e.sample]),
      [[1, true]],
      'only the last prompt token is computed',
    );
  });

  it('layer-wise: nothing to receive when the local hit covers P−1 tokens; admitted at once', () => {
    const { s } = setup(64);
    s.add(makeSeq('warm', range(40, 1), 2));
    runToCompletion(s);
    const seq = makeSeq('covered', range(33, 1), 2, [], { awaitKvPush: { remoteAgent: 'p1' } });
    s.add(seq);
    const out = s.schedule();
    assert.equal(out.remote[0]?.kind, 'receive_none');
    assert.equal(seq.status, 'running');
    assert.equal(seq.awaitPush, undefined);
  });

  it('reuses a cached prefix on admission (numCachedTokens)', () => {
    const { kv, s } = setup(64);
    const first = makeSeq('first', range(40, 1), 2);
    s.add(first);
    runToCompletion(s);
    assert.equal(first.numCachedTokens, 0);
    const second = makeSeq('second', [...range(35, 1), 7, 7, 7], 2);
    s.add(second);
    const out = runStep(s);
    assert.equal(second.numCachedTokens, 32); // two full blocks of 16 shared
    assert.equal(out.scheduled[0]!.numNewTokens, 38 - 32);
    assert.equal(kv.stats().hits, 1);
  });

  it('preempts the newest running sequence first, back to the head of waiting', () => {
    const { kv, s } = setup(7); // 3 sequences × up to 4 blocks each do not fit in 7 blocks
    const seqs = [range(30, 1), range(30, 200), range(30, 400)].map((p, i) => makeSeq(`r${i}`, p, 20));
    for (const q of seqs) s.add(q);
    const outs = runToCompletion(s);
    const first = outs.find((o) => o.preempted.length > 0);
    assert.ok(first, 'expected a preemption');
    assert.equal(first.preempted[0]!.requestId, 'r2'); // the newest goes first
    assert.ok(seqs.every((q) => q.outputTokenIds.length === 20));
    assert.equal(kv.stats().activeBlocks, 0);
    kv.checkInvariants();
  });

  it('preemption does not change any sequence output', () => {
    const prompts = [range(30, 1), range(30, 200), range(30, 400)];
    const make = () => prompts.map((p, i) => makeSeq(`r${i}`, p, 20));
    const big = setup(64);
    const small = setup(7);
    const a = make();
    const b = make();
    for (const q of a) big.s.add(q);
    for (const q of b) small.s.add(q);
    runToCompletion(big.s);
    runToCompletion(small.s);
    assert.ok(b.some((q) => q.numPreemptions > 0));
    assert.deepEqual(
      b.map((q) => q.outputTokenIds),
      a.map((q) => q.outputTokenIds),
    );
  });

  it('abort frees blocks at once, from running or waiting', () => {
    const { kv, s } = setup(16, { maxNumSeqs: 1 });
    s.add(makeSeq('run', range(40, 1), 50));
    s.add(makeSeq('wait', range(40, 1), 50));
    runStep(s);
    assert.ok(kv.stats().activeBlocks > 0);
    assert.equal(s.abort(asRequestId('run'))?.finishReason, 'abort');
    assert.equal(kv.stats().activeBlocks, 0);
    assert.equal(s.abort(asRequestId('wait'))?.finishReason, 'abort');
    assert.equal(s.abort(asRequestId('nobody')), undefined);
    assert.equal(s.hasUnfinished(), false);
  });

  it('skips a sequence aborted while its step was executing', () => {
    const { kv, s } = setup(16);
    s.add(makeSeq('x', range(10, 1), 5));
    const out = s.schedule();
    s.abort(asRequestId('x'));
    assert.deepEqual(s.update(out, [42]), []);
    assert.equal(kv.stats().activeBlocks, 0);
    kv.checkInvariants();
  });

  it('stops at a stop token, or at max tokens', () => {
    const { s } = setup(16);
    const seq = makeSeq('s', [1, 2, 3], 10, [EOS]);
    s.add(seq);
    const out = s.schedule();
    assert.deepEqual(s.update(out, [EOS]), [seq]);
    assert.equal(seq.finishReason, 'stop');
  });

  it('10,000 random admit/step/abort operations leak no blocks', () => {
    const rng = new Xoshiro128(2024);
    const pick = (n: number) => Math.floor(rng.nextFloat() * n);
    const { kv, s } = setup(14, { maxNumSeqs: 6, maxNumBatchedTokens: 48 });
    const live = new Set<string>();
    let nextId = 0;
    let preemptions = 0;
    let finished = 0;
    let oneTokenPrefills = 0;
    for (let op = 0; op < 10_000; op++) {
      const r = rng.nextFloat();
      if (r < 0.3) {
        const id = `q${nextId++}`;
        // Shared prefixes (a few fixed starts) so the prefix cache gets hits and shared blocks.
        const prefix = range(16 * pick(3), 1000 * pick(3));
        s.add(makeSeq(id, [...prefix, ...range(1 + pick(40), nextId)], 1 + pick(60)));
        live.add(id);
      } else if (r < 0.4 && live.size > 0) {
        const id = [...live][pick(live.size)]!;
        s.abort(asRequestId(id));
        live.delete(id);
      } else if (s.hasUnfinished()) {
        const wasRunning = new Set(s.running);
        const out = s.schedule();
        preemptions += out.preempted.length;
        // One answer to "decoding?": the mark is the sequence's own, and running decodes go first.
        for (const e of out.scheduled) {
          assert.equal(e.isPrefill, !e.seq.isDecoding, `${e.seq.requestId} marked as its getter says`);
          if (e.isPrefill && e.numNewTokens === 1) oneTokenPrefills++;
        }
        const runningMarks = out.scheduled.filter((e) => wasRunning.has(e.seq)).map((e) => e.isPrefill);
        assert.deepEqual(runningMarks, [...runningMarks].sort(), 'running decodes before running prefills');
        if (rng.nextFloat() < 0.1 && out.scheduled.length > 0) {
          s.abort(out.scheduled[0]!.seq.requestId); // cancelled while the step "runs"
          live.delete(out.scheduled[0]!.seq.requestId);
        }
        const sampled = out.scheduled.map((e) => (e.sample ? fakeNextToken(e.seq.tokenIds) : undefined));
        for (const done of s.update(out, sampled)) {
          live.delete(done.requestId);
          finished++;
        }
        // The hashes each sequence extended as it grew equal a fresh computation over its tokens.
        for (const { seq } of out.scheduled) {
          assert.deepEqual(
            seq.blockHashes,
            computeBlockHashes(seq.tokenIds, 16),
            `${seq.requestId}'s hashes`,
          );
        }
      }
      kv.checkInvariants();
      const held = [...s.running].reduce((n, q) => n + kv.getBlockTable(q.requestId).length, 0);
      assert.ok(held >= kv.stats().activeBlocks, 'blocks in use that no running sequence holds');
    }
    for (const id of live) s.abort(asRequestId(id));
    assert.equal(s.hasUnfinished(), false);
    assert.equal(kv.stats().activeBlocks, 0, 'leaked blocks');
    assert.equal(kv.numFreeBlocks(), 14);
    assert.ok(preemptions > 0 && finished > 100, `preemptions=${preemptions} finished=${finished}`);
    assert.ok(oneTokenPrefills > 0, 'some prompt or recompute chunks were a single token');
    console.log(
      `random ops: ${nextId} requests, ${finished} finished, ${preemptions} preemptions, ` +
        `${oneTokenPrefills} one-token prefill chunks`,
    );
  });
});
