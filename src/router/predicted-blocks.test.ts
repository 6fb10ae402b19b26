import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  asRequestId,
  asWorkerId,
  type RequestId,
  type SequenceHash,
  type WorkerId,
} from '../protocols/ids.ts';
import { configureLogging } from '../util/logger.ts';
import { createRng } from '../util/prng.ts';
import { KvPolicy } from './policies/kv.ts';
import { PredictedBlocks } from './predicted-blocks.ts';
import { routerWith, sequenceHashes, storedEvent, tokens } from './testing/router-kit.ts';

const GRACE = 100;

/** The overlay's contract, written the obvious way: a list of predictions, scanned. */
class ReferenceOverlay {
  readonly requests = new Map<
    RequestId,
    { workerId: WorkerId; pending: Set<SequenceHash>; until?: number }
  >();
  predict(id: RequestId, workerId: WorkerId, hashes: readonly SequenceHash[], from: number): void {
    this.requests.delete(id);
    if (from < hashes.length) this.requests.set(id, { workerId, pending: new Set(hashes.slice(from)) });
  }
  confirm(workerId: WorkerId, hashes: readonly SequenceHash[]): void {
    for (const r of this.requests.values()) {
      if (r.workerId === workerId) for (const h of hashes) r.pending.delete(h);
    }
  }
  retire(id: RequestId, now: number): void {
    const r = this.requests.get(id);
    if (r !== undefined && r.until === undefined) r.until = now + GRACE;
  }
  holds(workerId: WorkerId, hash: SequenceHash, now: number): boolean {
    for (const r of this.requests.values()) {
      if (r.workerId === workerId && r.pending.has(hash) && !(r.until !== undefined && r.until <= now)) {
        return true;
      }
    }
    return false;
  }
}

describe('PredictedBlocks', () => {
  it('matches the reference under random routes, events, ends, failures and departures; never leaks', () => {
    for (const seed of [1, 2, 3, 4, 5]) {
      const rng = createRng(seed);
      const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rng.nextFloat() * xs.length)]!;
      let now = 0;
      const overlay = new PredictedBlocks(GRACE, () => now);
      const reference = new ReferenceOverlay();
      const workers = ['w0', 'w1', 'w2'].map(asWorkerId);
      // Prompts over a small universe of chained hashes: shared prefixes, so owners overlap.
      const universe = Array.from({ length: 40 }, (_, i) => BigInt(1000 + i) as SequenceHash);
      const live = new Set<RequestId>();
      for (let step = 0; step < 3000; step++) {
        const op = rng.nextFloat();
        if (op < 0.35) {
          const id = asRequestId(`r${step % 60}`); // ids come back: a re-route replaces the prediction
          const start = Math.floor(rng.nextFloat() * 10);
          const hashes = universe.slice(start, start + 1 + Math.floor(rng.nextFloat() * 20));
          const workerId = pick(workers);
          const from = Math.floor(rng.nextFloat() * (hashes.length + 1));
          overlay.predict(id, workerId, hashes, from);
          reference.predict(id, workerId, hashes, from);
          live.add(id);
        } else if (op < 0.55) {
          const workerId = pick(workers);
          const hashes = Array.from({ length: 5 }, () => pick(universe));
          overlay.confirm(workerId, hashes);
          reference.confirm(workerId, hashes);
        } else if (op < 0.7 && live.size > 0) {
          const id = pick([...live]);
          overlay.retire(id); // ended normally
          reference.retire(id, now);
          live.delete(id);
        } else if (op < 0.8 && live.size > 0) {
          const id = pick([...live]);
          overlay.drop(id); // failed / migrated / cancelled before its first token
          reference.requests.delete(id);
          live.delete(id);
        } else if (op < 0.82) {
          const workerId = pick(workers);
          overlay.removeWorker(workerId);
          for (const [id, r] of reference.requests)
            if (r.workerId === workerId) reference.requests.delete(id);
        } else {
          now += Math.floor(rng.nextFloat() * 30);
        }
        overlay.expire();
        for (const w of workers) {
          for (const h of universe) {
            assert.equal(
              overlay.holds(w, h),
              reference.holds(w, h, now),
              `seed ${seed} step ${step} ${w} ${h}`,
            );
          }
        }
      }
      for (const id of live) overlay.retire(id);
      now += GRACE;
      overlay.expire();
      assert.deepEqual(
        { ...overlay.stats(), confirmed: 0, dropped: 0 },
        {
          entries: 0,
          owners: 0,
          confirmed: 0,
          dropped: 0,
        },
      );
    }
  });
});

describe('Router with predicted blocks', () => {
  const system = tokens(0, 400); // a 400-token system prompt: 25 blocks
  const ask = (i: number) => [...system, ...tokens(10_000 + i * 100, 20)];

  it('a request just routed makes its blocks count as cached on its worker, before any KV event', () => {
    configureLogging({ level: 'warn' });
    const { router } = routerWith(new KvPolicy({ seed: 1 }), ['w1', 'w2']);
    const first = router.route({ requestId: 'a', tokenIds: ask(1) });
    router.markPrefillDone('a');
    const views = router.inspect({ requestId: 'b', tokenIds: ask(2) });
    const onFirst = views.find((v) => v.workerId === first.workerId)!;
    assert.equal(onFirst.overlapBlocks, 25);
    assert.equal(onFirst.predictedBlocks, 25);
    const second = router.route({ requestId: 'b', tokenIds: ask(2) });
    assert.equal(second.workerId, first.workerId);
    assert.equal(second.overlapBlocks, 25);
  });

  it('a request sent while the first is still prefilling their common prefix joins it', () => {
    const { router } = routerWith(new KvPolicy({ seed: 1 }), ['w1', 'w2']);
    const first = router.route({ requestId: 'a', tokenIds: ask(1) });
    const views = router.inspect({ requestId: 'b', tokenIds: ask(2) });
    const onFirst = views.find((v) => v.workerId === first.workerId)!;
    // a's 420 tokens are pending there; 400 of them are b's prefix: b waits for them instead of computing.
    assert.deepEqual([onFirst.predictedBlocks, onFirst.sharedPrefillTokens], [25, 400]);
    assert.equal(onFirst.activePrefillTokens, 20);
    assert.equal(router.route({ requestId: 'b', tokenIds: ask(2) }).workerId, first.workerId);
  });

  it('the decision log splits the overlap into indexed and predicted blocks', () => {
    const lines: string[] = [];
    configureLogging({ level: 'debug', format: 'json', write: (l) => lines.push(l) });
    try {
      const { router } = routerWith(new KvPolicy({ seed: 1 }), ['w1', 'w2'], { decisionLog: 'debug' });
      const first = router.route({ requestId: 'a', tokenIds: ask(1) });
      router.applyKvEvent(first.workerId, storedEvent(1, ask(1), 0, 10));
      router.markPrefillDone('a');
      router.route({ requestId: 'b', tokenIds: ask(2) });
      const line = lines.map((l) => JSON.parse(l)).filter((l) => l.msg === 'route')[1];
      assert.equal(line.chosen, first.workerId);
      assert.deepEqual([line.overlap, line.overlapIndexed, line.overlapPredicted], [25, 10, 15]);
      const onFirst = line.workers.find((w: string) => w.startsWith(`${first.workerId}:`));
      assert.match(onFirst, /overlap=25 \(indexed 10 \+ predicted 15\)/);
    } finally {
      configureLogging({ level: 'warn', format: 'text', write: (l) => process.stderr.write(`${l}\n`) });
    }
  });

  it('events confirm predictions: the overlap moves from predicted to indexed, the overlay empties', () => {
    const { router } = routerWith(new KvPolicy({ seed: 1 }), ['w1', 'w2']);
    const first = router.route({ requestId: 'a', tokenIds: ask(1) });
    router.applyKvEvent(first.workerId, storedEvent(1, ask(1), 0, 10));
    let view = router
      .inspect({ requestId: 'x', tokenIds: ask(2) })
      .find((v) => v.workerId === first.workerId)!;
    assert.deepEqual([view.overlapBlocks, view.predictedBlocks], [25, 15]);
    router.applyKvEvent(first.workerId, storedEvent(2, ask(1), 10, 26));
    view = router.inspect({ requestId: 'x', tokenIds: ask(2) }).find((v) => v.workerId === first.workerId)!;
    assert.deepEqual([view.overlapBlocks, view.predictedBlocks], [25, 0]);
    assert.equal(router.predicted!.stats().entries, 0);
    router.finishRequest('a');
    assert.equal(router.predicted!.owns(asRequestId('a')), false);
  });

  it('a failed request drops its predictions at once; a finished one keeps them for the grace period', () => {
    let now = 0;
    const { router } = routerWith(new KvPolicy({ seed: 1 }), ['w1', 'w2'], {
      predictionGraceMs: 500,
      now: () => now,
    });
    const failed = router.route({ requestId: 'f', tokenIds: ask(1) });
    router.finishRequest('f', 'failed');
    assert.equal(router.predicted!.stats().entries, 0);
    const inspectOverlap = (workerId: string) =>
      router.inspect({ requestId: 'x', tokenIds: ask(2) }).find((v) => v.workerId === workerId)!
        .overlapBlocks;
    assert.equal(inspectOverlap(failed.workerId), 0);

    const done = router.route({ requestId: 'd', tokenIds: ask(3) });
    router.markPrefillDone('d');
    router.finishRequest('d'); // its events are still on the bus
    now = 499;
    assert.equal(inspectOverlap(done.workerId), 25, 'the reply outran the events: still predicted');
    now = 500;
    assert.equal(inspectOverlap(done.workerId), 0, 'no events within the grace period: forgotten');
    assert.deepEqual([router.predicted!.stats().entries, router.predicted!.stats().owners], [0, 0]);
  });

  it('a worker leaving takes its predictions with it; predictBlocks: false is events-only', () => {
    const { router, ids } = routerWith(new KvPolicy({ seed: 1 }), ['w1', 'w2']);
    const first = router.route({ requestId: 'a', tokenIds: ask(1) });
    router.removeWorker(first.workerId);
    assert.equal(router.predicted!.stats().entries, 0);
    const { router: plain } = routerWith(new KvPolicy({ seed: 1 }), ['w1', 'w2'], { predictBlocks: false });
    plain.route({ requestId: 'a', tokenIds: ask(1) });
    assert.ok(plain.inspect({ requestId: 'b', tokenIds: ask(2) }).every((v) => v.overlapBlocks === 0));
    assert.equal(plain.predicted, undefined);
    assert.equal(ids.length, 2);
  });

  it("the hashes the overlay predicts are the request's own block hashes", () => {
    const { router } = routerWith(new KvPolicy({ seed: 1 }), ['w1']);
    router.route({ requestId: 'a', tokenIds: ask(1) });
    const hashes = sequenceHashes(ask(1));
    assert.ok(hashes.every((h) => router.predicted!.holds(asWorkerId('w1'), h)));
  });
});
