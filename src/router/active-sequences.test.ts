import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  asRequestId,
  asWorkerId,
  type RequestId,
  type SequenceHash,
  type WorkerId,
} from '../protocols/ids.ts';
import { createRng } from '../util/prng.ts';
import { ActiveSequences } from './active-sequences.ts';
import { BS, sequenceHashes, tokens } from './testing/router-kit.ts';

const W = asWorkerId('w1');
const system = tokens(0, 64); // 4 blocks shared by both requests
const promptA = [...system, ...tokens(1000, 40)]; // 104 tokens: 6 full blocks + 8
const promptB = [...system, ...tokens(2000, 32)]; // 96 tokens: 6 full blocks

describe('ActiveSequences', () => {
  it('counts shared prefix blocks once, partial blocks per request, and prefill until the first token', () => {
    const active = new ActiveSequences();
    const a = sequenceHashes(promptA);
    const b = sequenceHashes(promptB);
    active.add(asRequestId('a'), W, a, promptA.length, BS, 0);
    assert.deepEqual(active.counts(W), { requests: 1, prefillTokens: 104, blocks: 7 });
    assert.equal(active.newBlocks(W, b, promptB.length, BS), 2, 'B shares 4 blocks with A, no partial');
    active.add(asRequestId('b'), W, b, promptB.length, BS, 4); // 4 blocks cached: 32 tokens to prefill
    assert.deepEqual(active.counts(W), { requests: 2, prefillTokens: 136, blocks: 9 });
    active.markPrefillDone(asRequestId('a'));
    active.markPrefillDone(asRequestId('a'));
    assert.equal(active.counts(W).prefillTokens, 32);
    assert.equal(active.finish(asRequestId('a')), W);
    assert.deepEqual(active.counts(W), { requests: 1, prefillTokens: 32, blocks: 6 });
    active.finish(asRequestId('b'));
    assert.deepEqual(active.counts(W), { requests: 0, prefillTokens: 0, blocks: 0 });
    assert.equal(active.finish(asRequestId('b')), undefined, 'finishing twice is a no-op');
  });

  it('removeWorker returns the requests that were on it', () => {
    const active = new ActiveSequences();
    active.add(asRequestId('a'), W, [], 5, BS, 0);
    active.add(asRequestId('b'), asWorkerId('w2'), [], 5, BS, 0);
    assert.deepEqual(active.removeWorker(W), ['a']);
    assert.equal(active.size, 1);
    assert.equal(active.workerOf(asRequestId('b')), 'w2');
  });

  it('in-flight depths and block counts match a per-worker Map reference under random adds, finishes and departures', () => {
    const rng = createRng(7, 'mulberry32');
    const active = new ActiveSequences();
    const workers = [asWorkerId('w0'), asWorkerId('w1'), asWorkerId('w2')];
    // Chains share prefixes (8 roots, branching), as conversations do; hashes span both 32-bit halves.
    const chain = (root: number, branch: number, length: number): SequenceHash[] =>
      Array.from({ length }, (_, i) => {
        const path = i < 3 ? root : root * 1000 + (i < 6 ? branch % 2 : branch);
        return (BigInt(path) * 0x9e3779b97f4a7c15n + BigInt(i)) as SequenceHash;
      }).map((h) => (h & 0xffffffffffffffffn) as SequenceHash);
    const live = new Map<RequestId, { workerId: WorkerId; hashes: SequenceHash[] }>();
    const reference = (): Map<WorkerId, Map<SequenceHash, number>> => {
      const refs = new Map<WorkerId, Map<SequenceHash, number>>();
      for (const { workerId, hashes } of live.values()) {
        const m = refs.get(workerId) ?? refs.set(workerId, new Map()).get(workerId)!;
        for (const h of hashes) m.set(h, (m.get(h) ?? 0) + 1);
      }
      return refs;
    };
    for (let step = 0; step < 3000; step++) {
      const roll = rng.nextFloat();
      if (roll < 0.55) {
        const id = asRequestId(`r${step}`);
        const workerId = workers[rng.nextInt(workers.length)]!;
        const hashes = chain(rng.nextInt(8), rng.nextInt(4), 1 + rng.nextInt(12));
        active.add(id, workerId, hashes, hashes.length * BS, BS, 0);
        live.set(id, { workerId, hashes });
      } else if (roll < 0.98 && live.size > 0) {
        const ids = [...live.keys()];
        const id = ids[rng.nextInt(ids.length)]!;
        assert.equal(active.finish(id), live.get(id)!.workerId);
        live.delete(id);
      } else {
        const workerId = workers[rng.nextInt(workers.length)]!;
        const orphaned = active.removeWorker(workerId).sort();
        const expected = [...live].filter(([, r]) => r.workerId === workerId).map(([id]) => id);
        assert.deepEqual(orphaned, expected.sort());
        for (const id of expected) live.delete(id);
      }
      const refs = reference();
      const probe = chain(rng.nextInt(8), rng.nextInt(4), 12);
      const depths = active.inFlightDepths(probe);
      for (const workerId of workers) {
        const held = refs.get(workerId);
        let depth = 0;
        while (depth < probe.length && held?.has(probe[depth]!)) depth++;
        assert.equal(depths.get(workerId) ?? 0, depth, `step ${step}: depth on ${workerId}`);
        assert.equal(active.counts(workerId).blocks, held?.size ?? 0, `step ${step}: blocks on ${workerId}`);
        assert.equal(active.newBlocks(workerId, probe, probe.length * BS, BS), probe.length - depth);
      }
    }
  });
});
