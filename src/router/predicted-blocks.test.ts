import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  asRequestId,
  asWorkerId,
  type SequenceHash,
  type WorkerId,
} from '../protocols/ids.ts';
import { configureLogging } from '../util/logger.ts';
import { createRng } from '../util/prng.ts';
import { KvPolicy } from './policies/kv.ts';
import { PredictedBlocks } from './predicted-blocks.ts';
import { routerWith, sequenceHashes, storedEvent, tokens } from './testing/router-kit.ts';

const GRACE = 100;

/** The table's contract, written the obvious way: a list of retirements, scanned. */
class ReferenceTable {
  retired: { workerId: WorkerId; pending: Set<SequenceHash>; until: number }[] = [];
  retire(workerId: WorkerId, hashes: readonly SequenceHash[], now: number): void {
    this.retired.push({ workerId, pending: new Set(hashes), until: now + GRACE });
  }
  confirm(workerId: WorkerId, hashes: readonly SequenceHash[]): void {
    for (const r of this.retired) if (r.workerId === workerId) for (const h of hashes) r.pending.delete(h);
  }
  holds(workerId: WorkerId, hash: SequenceHash, now: number): boolean {
    return this.retired.some((r) => r.workerId === workerId && r.until > now && r.pending.has(hash));
  }
}

describe('PredictedBlocks', () => {
  it('matches the reference under random retirements, events, departures and clock steps', () => {
    for (const seed of [1, 2, 3, 4, 5]) {
      const rng = createRng(seed);
      const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rng.nextFloat() * xs.length)]!;
      let now = 0;
      const table = new PredictedBlocks(GRACE, () => now);
      const reference = new ReferenceTable();
      const workers = ['w0', 'w1', 'w2'].map(asWorkerId);
      const universe = Array.from({ length: 40 }, (_, i) => BigInt(1000 + i) as SequenceHash);
      for (let step = 0; step < 3000; step++) {
        const op = rng.nextFloat();
        if (op < 0.4) {
          const start = Math.floor(rng.nextFloat() * 30);
          const hashes = universe.slice(start, start + Math.floor(rng.nextFloat() * 12));
          const workerId = pick(workers);
          table.retire(asRequestId(`r${step}`), workerId, hashes);
          reference.retire(workerId, hashes, now);
        } else if (op < 0.7) {
          const workerId = pick(workers);
          const hashes = Array.from({ length: 4 }, () => pick(universe));
          table.confirm(workerId, hashes);
          reference.confirm(workerId, hashes);
        } else if (op < 0.72) {
          const workerId = pick(workers);
          table.removeWorker(workerId);
          reference.retired = reference.retired.filter((r) => r.workerId !== workerId);
        } else {
          now += Math.floor(rng.nextFloat() * 30);
        }
        table.expire();
        for (const w of workers) {
          for (const h of universe) {
            assert.equal(
              table.holds(w, h),
              reference.holds(w, h, now),
              `seed ${seed} step ${step} ${w} ${h}`,
            );
          }
        }
      }
      now += GRACE;
      table.expire();
      assert.deepEqual(
        [table.stats().entries, table.stats().retired],
        [0, 0],
        'nothing left after the grace',
      );
    }
  });

  it('through the router: random routes, events, ends, failures and departures leave nothing behind', () => {
    for (const seed of [1, 2, 3]) {
      const rng = createRng(seed);
      let now = 0;
      const { router, ids } = routerWith(new KvPolicy({ seed }), ['w1', 'w2', 'w3'], {
        predictionGraceMs: GRACE,
        now: () => now,
      });
      const prompts = Array.from({ length: 6 }, (_, p) => [...tokens(0, 64), ...tokens(1000 * (p + 1), 48)]);
      const live: { id: string; prompt: number[]; workerId: WorkerId }[] = [];
      const eventIds = new Map<WorkerId, number>();
      for (let step = 0; step < 600; step++) {
        const op = rng.nextFloat();
        if (op < 0.35 && router.size > 0) {
          const prompt = prompts[Math.floor(rng.nextFloat() * prompts.length)]!;
          const id = `r${step}`;
          live.push({ id, prompt, workerId: router.route({ requestId: id, tokenIds: prompt }).workerId });
        } else if (op < 0.55 && live.length > 0) {
          const [r] = live.splice(Math.floor(rng.nextFloat() * live.length), 1);
          router.markPrefillDone(r!.id);
          router.finishRequest(r!.id, rng.nextFloat() < 0.7 ? 'done' : 'failed');
        } else if (op < 0.75 && live.length > 0) {
          const r = live[Math.floor(rng.nextFloat() * live.length)]!;
          if (router.hasWorker(r.workerId)) {
            const eventId = (eventIds.get(r.workerId) ?? 0) + 1;
            eventIds.set(r.workerId, eventId);
            router.applyKvEvent(r.workerId, storedEvent(eventId, r.prompt));
          }
        } else if (op < 0.78) {
          const workerId = ids[Math.floor(rng.nextFloat() * ids.length)]!;
          const orphans = router.removeWorker(workerId);
          for (const id of orphans)
            live.splice(
              live.findIndex((r) => r.id === id),
              1,
            );
          router.addWorker({ workerId, blockSize: 16, totalBlocks: 1000 });
          eventIds.delete(workerId);
        } else {
          now += Math.floor(rng.nextFloat() * 40);
        }
      }
      for (const r of live) router.finishRequest(r.id, rng.nextFloat() < 0.5 ? 'done' : 'failed');
      now += GRACE;
      const views = router.inspect({ requestId: 'x', tokenIds: prompts[0]! });
      assert.ok(views.every((v) => v.predictedBlocks === 0 && v.inFlight.requests === 0));
      assert.equal(router.predicted!.stats().entries, 0, `seed ${seed}: no prediction outlives its grace`);
      assert.equal(router.active.size, 0);
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
    assert.equal(router.predicted!.stats().retired, 0, 'nothing unconfirmed: nothing retired');
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
    assert.deepEqual([router.predicted!.stats().entries, router.predicted!.stats().retired], [0, 0]);
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

  it('a request that ended before its events leaves exactly its own block hashes in the table', () => {
    const { router } = routerWith(new KvPolicy({ seed: 1 }), ['w1']);
    router.route({ requestId: 'a', tokenIds: ask(1) });
    router.markPrefillDone('a');
    router.finishRequest('a');
    const hashes = sequenceHashes(ask(1));
    assert.ok(hashes.every((h) => router.predicted!.holds(asWorkerId('w1'), h)));
    assert.equal(router.predicted!.stats().entries, hashes.length);
  });
});
