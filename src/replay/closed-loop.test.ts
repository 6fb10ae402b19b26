import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ClosedLoopArrivals, groupSessions } from './closed-loop.ts';
import { ReplayConfigError } from './errors.ts';
import { parseDistribution } from './distributions.ts';
import { runReplay } from './replay-run.ts';
import { sessionTrace, sessionTraceOptions } from './session-trace.ts';
import type { TraceRecord } from './trace.ts';

const rec = (line: number, sessionId?: string, delayMs?: number): TraceRecord => ({
  line,
  timestampMs: line * 1000,
  inputLength: 600,
  outputLength: 4,
  hashIds: [line, line + 100],
  ...(sessionId === undefined ? {} : { sessionId }),
  ...(delayMs === undefined ? {} : { delayMs }),
});

describe('ClosedLoopArrivals', () => {
  it('keeps N users busy: a finish sends the session’s next turn after its delay, or the next session', () => {
    // index: 0 s0.t1, 1 s1, 2 s0.t2 (delay 100), 3 a sessionless request.
    const trace = [rec(1, 's0'), rec(2, 's1'), rec(3, 's0', 100), rec(4)];
    assert.deepEqual(groupSessions(trace), [[0, 2], [1], [3]]);
    const q = new ClosedLoopArrivals(trace, 2);
    assert.equal(q.peek(), 0);
    assert.deepEqual([q.take(), q.take()], [0, 1]);
    assert.equal(q.peek(), undefined, 'both users are waiting for an answer');
    q.finished(1, 50); // s1 ends: its user starts the next session (request 3) at once
    q.finished(0, 70); // s0's first turn ends: its second turn goes out after the 100 ms delay
    assert.equal(q.peek(), 50);
    assert.equal(q.take(), 3);
    assert.equal(q.peek(), 170);
    assert.equal(q.take(), 2);
    q.finished(3, 80);
    q.finished(2, 400);
    assert.equal(q.peek(), undefined, 'every session done');
  });
});

describe('runReplay --concurrency', () => {
  const trace = sessionTrace(
    sessionTraceOptions('tool-agent', {
      sessions: 30,
      isl: parseDistribution('lognormal:1500,0.5', 'isl'),
      turnIsl: parseDistribution('300', 'turn-isl'),
      thinkTimeMs: parseDistribution('exp:200', 'think-time'),
      turnsMean: 3,
      systemPromptTokens: 1024,
    }),
  );
  const options = { router: 'kv', workers: 2, numKvBlocks: 4096 } as const;

  it('never has more than N requests in flight, and sends each turn at the previous finish + delay', async () => {
    const result = await runReplay(trace, { ...options, concurrency: 4 });
    const records = result.records;
    assert.equal(records.length, trace.length);
    const events = records.flatMap((r) => [
      [r.arrivalMs, 1],
      [r.finishMs, -1],
    ]);
    // Ends before starts at equal times: a user's next request may start the instant the last one ends.
    events.sort((a, b) => a[0]! - b[0]! || a[1]! - b[1]!);
    let inFlight = 0;
    let peak = 0;
    for (const [, d] of events) peak = Math.max(peak, (inFlight += d!));
    assert.equal(peak, 4);
    for (const turns of groupSessions(trace)) {
      for (let k = 1; k < turns.length; k++) {
        const prev = records[turns[k - 1]!]!;
        const cur = records[turns[k]!]!;
        assert.ok(
          Math.abs(cur.arrivalMs - (prev.finishMs + (trace[turns[k]!]!.delayMs ?? 0))) < 1e-9,
          'turn sent at previous finish + think time',
        );
      }
    }
    assert.equal(result.options.concurrency, 4);
  });

  it('is deterministic, and more users finish the same work sooner', async () => {
    const a = await runReplay(trace, { ...options, concurrency: 2 });
    const b = await runReplay(trace, { ...options, concurrency: 2 });
    assert.deepEqual(a.records, b.records);
    const wide = await runReplay(trace, { ...options, concurrency: 16 });
    assert.ok(wide.simulatedMs < a.simulatedMs, `${wide.simulatedMs} < ${a.simulatedMs}`);
  });

  it('refuses zero users', async () => {
    await assert.rejects(runReplay(trace, { ...options, concurrency: 0 }), ReplayConfigError);
  });
});
