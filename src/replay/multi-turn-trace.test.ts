import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { multiTurnTrace } from './multi-turn-trace.ts';
import { parseTrace } from './trace.ts';
import { toJsonLines } from './testing/replay-kit.ts';

const OPTIONS = {
  sessions: 30,
  turns: 4,
  systemBlocks: 3,
  firstUserBlocks: 5,
  userBlocks: 1,
  answerBlocks: 2,
  outputTokens: 50,
  sessionRate: 2,
  thinkMs: 3000,
  seed: 5,
};

describe('multiTurnTrace', () => {
  it('writes valid Mooncake lines, in arrival order, the same for the same seed', () => {
    const trace = multiTurnTrace(OPTIONS);
    assert.equal(trace.length, 120);
    assert.deepEqual(parseTrace(toJsonLines(trace)), trace);
    for (let i = 1; i < trace.length; i++) assert.ok(trace[i]!.timestampMs >= trace[i - 1]!.timestampMs);
    assert.deepEqual(multiTurnTrace(OPTIONS), trace);
    assert.notDeepEqual(multiTurnTrace({ ...OPTIONS, seed: 6 }), trace);
  });

  it('turns of a conversation extend each other; conversations share only the system prompt', () => {
    const trace = multiTurnTrace(OPTIONS);
    const firstTurns = trace.filter((r) => r.hashIds.length === 3 + 5);
    assert.equal(firstTurns.length, 30);
    for (const first of firstTurns) {
      const turns = trace.filter((r) => r.hashIds[3] === first.hashIds[3]);
      assert.equal(turns.length, 4);
      turns.forEach((turn, t) => {
        assert.equal(turn.hashIds.length, 8 + t * 3);
        if (t > 0)
          assert.deepEqual(turn.hashIds.slice(0, turns[t - 1]!.hashIds.length), turns[t - 1]!.hashIds);
      });
    }
    const openers = new Set(firstTurns.map((r) => r.hashIds[3]));
    assert.equal(openers.size, 30);
    assert.ok(trace.every((r) => r.hashIds.slice(0, 3).join() === '0,1,2'));
  });
});
