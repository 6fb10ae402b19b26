import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { configureLogging } from '../../util/logger.ts';
import { loadMetrics, routerWith, storedEvent, tokens } from '../testing/router-kit.ts';
import { KvPolicy } from './kv.ts';

const prompt = tokens(0, 256); // 16 full blocks

/** w1 caches the first 12 blocks of `prompt` (learned from its KV event), w2 nothing. */
function setup(
  options: ConstructorParameters<typeof KvPolicy>[0] = {},
  decisionLog: 'debug' | 'info' | 'off' = 'off',
  predictBlocks = true,
) {
  const { router, ids } = routerWith(new KvPolicy({ seed: 3, ...options }), ['w1', 'w2'], {
    decisionLog,
    predictBlocks,
  });
  router.applyKvEvent(ids[0]!, storedEvent(1, prompt, 0, 12));
  return { router, ids };
}

describe('kv policy', () => {
  afterEach(() =>
    configureLogging({ level: 'info', format: 'text', write: (l) => process.stderr.write(`${l}\n`) }),
  );

  it('picks the worker with the most overlap when loads are equal, and logs the cost as arithmetic', () => {
    const lines: string[] = [];
    configureLogging({ level: 'debug', format: 'json', write: (l) => lines.push(l) });
    const { router } = setup({}, 'debug');
    const result = router.route({ requestId: 'r1', tokenIds: prompt });
    assert.equal(result.workerId, 'w1');
    assert.equal(result.overlapBlocks, 12);
    // w1: 1.0 · (256 − 12·16)/16 + (0 + 16) = 20;  w2: 1.0 · 256/16 + 16 = 32.
    const scores = result.decision.scores!;
    assert.deepEqual(
      scores.map((s) => [s.workerId, s.cost, s.formula]),
      [
        ['w1', 20, '1.0*4 + 16 = 20'],
        ['w2', 32, '1.0*16 + 16 = 32'],
      ],
    );
    const route = lines.map((l) => JSON.parse(l)).find((l) => l.msg === 'route');
    assert.ok(route, 'one route line');
    assert.equal(route.level, 'debug');
    assert.equal(route.requestId, 'r1');
    assert.equal(route.chosen, 'w1');
    assert.equal(route.overlap, 12);
    assert.deepEqual(route.workers, [
      'w1: overlap=12 prefill=0t active=0b cost 1.0*4 + 16 = 20',
      'w2: overlap=0 prefill=0t active=0b cost 1.0*16 + 16 = 32',
    ]);
  });

  it('trades overlap for load per the formula, and the weight moves the trade', () => {
    const { router } = setup();
    router.updateLoad(loadMetrics('w1', { activeDecodeBlocks: 20 }));
    // w1: 1.0*4 + (20 + 16) = 40 > w2: 1.0*16 + 16 = 32.
    const loaded = router.route({ requestId: 'r1', tokenIds: prompt });
    assert.equal(loaded.workerId, 'w2');
    assert.deepEqual(
      loaded.decision.scores!.map((s) => s.cost),
      [40, 32],
    );
    router.finishRequest('r1');
    const { router: weighted } = setup({ overlapScoreWeight: 2 });
    weighted.updateLoad(loadMetrics('w1', { activeDecodeBlocks: 20 }));
    // w1: 2*4 + 36 = 44 < w2: 2*16 + 16 = 48.
    assert.equal(weighted.route({ requestId: 'r2', tokenIds: prompt }).workerId, 'w1');
  });

  it('counts its own in-flight requests: a repeat prompt pays neither new blocks nor its own prefix twice', () => {
    const { router } = setup();
    router.route({ requestId: 'r1', tokenIds: prompt }); // to w1; 64 uncached tokens queued there
    const second = router.route({ requestId: 'r2', tokenIds: prompt, exclude: [] });
    // r1's last 4 blocks are predicted on w1 (routed there, no event yet), so r2's overlap there is 16,
    // and the 64 tokens r1 is prefilling are r2's own prefix, not a queue in front of it:
    // w1: (64 − 64 + 0)/16 = 0, blocks 16 active + 0 new = 16 → 16;  w2: 16 + 16 = 32.
    // (Before the predicted-block overlay r2 saw 12 blocks and paid 64 + 64 tokens: 24.)
    assert.deepEqual(
      second.decision.scores!.map((s) => s.cost),
      [16, 32],
    );
    assert.equal(second.overlapBlocks, 16);
    router.markPrefillDone('r1');
    router.markPrefillDone('r2');
    const views = router.inspect({ requestId: 'x', tokenIds: prompt });
    assert.deepEqual(views[0]!.inFlight, { requests: 2, prefillTokens: 0, blocks: 16 });
  });

  it('temperature > 0 samples in proportion to softmax(−normalized cost / T), reproducibly', () => {
    const run = (seed: number) => {
      // Without predictions: every request must see the cache exactly as w1's event left it.
      const { router } = setup({ temperature: 1, seed }, 'off', false);
      return Array.from({ length: 4000 }, (_, i) => {
        const w = router.route({ requestId: `r${i}`, tokenIds: prompt }).workerId;
        router.finishRequest(`r${i}`);
        return w;
      });
    };
    const picks = run(11);
    assert.deepEqual(picks, run(11));
    // Costs 20 and 32 normalize to 0 and 1: p(w1) = 1 / (1 + e^−1) ≈ 0.731.
    const share = picks.filter((w) => w === 'w1').length / picks.length;
    assert.ok(Math.abs(share - 0.731) < 0.03, `w1 share ${share}`);
  });

  it('rejects a negative weight or temperature', () => {
    assert.throws(() => new KvPolicy({ temperature: -1 }), RangeError);
    assert.throws(() => new KvPolicy({ overlapScoreWeight: Number.NaN }), RangeError);
  });
});
