import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { routerWith, tokens } from '../testing/router-kit.ts';
import { StickySessionPolicy } from './sticky-session-policy.ts';

const prompt = tokens(0, 40);

describe('example: sticky-session policy', () => {
  it('pins a session to its first worker and spreads new sessions by in-flight count', () => {
    const { router } = routerWith(new StickySessionPolicy(), ['w1', 'w2', 'w3']);
    const a = router.route({ requestId: 'a1', tokenIds: prompt, sessionId: 'alice' }).workerId;
    const b = router.route({ requestId: 'b1', tokenIds: prompt, sessionId: 'bob' }).workerId;
    assert.notEqual(a, b, 'bob goes to a worker with nothing in flight');
    for (let i = 2; i < 6; i++) {
      const r = router.route({ requestId: `a${i}`, tokenIds: prompt, sessionId: 'alice' });
      assert.equal(r.workerId, a);
      assert.equal(r.decision.reason, 'session alice pinned');
    }
  });

  it('re-pins a session whose worker left', () => {
    const policy = new StickySessionPolicy();
    const { router } = routerWith(policy, ['w1', 'w2']);
    const first = router.route({ requestId: 'r1', tokenIds: prompt, sessionId: 's' }).workerId;
    router.removeWorker(first);
    assert.equal(policy.pinnedSessions, 0);
    const second = router.route({ requestId: 'r2', tokenIds: prompt, sessionId: 's' });
    assert.notEqual(second.workerId, first);
    assert.equal(second.decision.reason, 'new session');
  });

  it('bounds its session table', () => {
    const policy = new StickySessionPolicy(3);
    const { router } = routerWith(policy, ['w1']);
    for (let i = 0; i < 10; i++) router.route({ requestId: `r${i}`, tokenIds: prompt, sessionId: `s${i}` });
    assert.equal(policy.pinnedSessions, 3);
  });
});
