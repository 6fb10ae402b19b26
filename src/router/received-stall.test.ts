import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { WorkerId } from '../protocols/ids.ts';
import { KvDelayPolicy } from './policies/kv-delay.ts';
import { ReceivedStallEstimator } from './received-stall.ts';
import { routerWith, tokens } from './testing/router-kit.ts';

const w1 = 'w1' as WorkerId;
const w2 = 'w2' as WorkerId;

describe('received stall', () => {
  it('counts the prefill sent to each worker over the last mean decode life', () => {
    const est = new ReceivedStallEstimator();
    est.sentPrefill(w1, 500, 0);
    assert.equal(est.meanLifeMs, 0);
    assert.deepEqual([...est.recentTokens(10)], [], 'no decode has ended: no window, nothing priced');
    est.observeDecode(100);
    est.observeDecode(300);
    assert.ok(Math.abs(est.meanLifeMs - (0.99 * 100 + 300) / 1.99) < 1e-9); // ≈ 200.5 ms
    est.sentPrefill(w1, 700, 150);
    est.sentPrefill(w2, 300, 200);
    est.sentPrefill(w1, 0, 220); // a full cache hit sends no prefill
    // At 250 the window starts at ≈ 49.5: the 500 tokens sent at 0 have left it.
    assert.deepEqual(
      [...est.recentTokens(250)],
      [
        [w1, 700],
        [w2, 300],
      ],
    );
    assert.deepEqual([...est.recentTokens(380)], [[w2, 300]]);
    est.observeDecode(Number.NaN); // ignored
    assert.ok(Math.abs(est.meanLifeMs - (0.99 * 100 + 300) / 1.99) < 1e-9);
  });

  it('kv-delay with receivedStall adds it to the cost, as arithmetic, and avoids the busier worker', () => {
    const run = (receivedStall: boolean) => {
      let t = 0;
      const policy = new KvDelayPolicy({ seed: 1, now: () => t, prefillTokensPerMs: 32, receivedStall });
      const { router } = routerWith(policy, ['w1', 'w2'], { explainAlways: true });
      const onW1 = (id: string, from: number, n: number) => {
        router.route({ requestId: id, tokenIds: tokens(from, n), exclude: [w2] });
        router.markPrefillDone(id); // first token at once: the rate stays at 32 tokens/ms
      };
      onW1('a', 10_000, 640); // at 0
      t = 200;
      router.finishRequest('a', 'done', 40); // a decode life of 200 ms
      t = 250;
      onW1('b', 20_000, 320); // 320 tokens sent to w1 at 250, still decoding there
      t = 300; // the window is [100, 300]: b's 320 tokens count, a's 640 no longer do
      return router.route({ requestId: 'r', tokenIds: tokens(30_000, 320) });
    };
    const priced = run(true);
    const [s1, s2] = priced.decision.scores!;
    assert.equal(
      s1!.formula,
      '(0q + 320u)/32 = 10ms ttft + 1*320u/32 = 10ms stall + 320r/32 = 10ms received = 30ms',
    );
    assert.equal(
      s2!.formula,
      '(0q + 320u)/32 = 10ms ttft + 0*320u/32 = 0ms stall + 0r/32 = 0ms received = 10ms',
    );
    assert.equal(priced.workerId, 'w2');
    const plain = run(false).decision.scores!;
    assert.deepEqual(
      plain.map((s) => s.cost),
      [20, 10],
      'off by default: no received term',
    );
  });
});
