/**
 * `--router kv-ttft` end to end in replay: the real router with the kv-ttft policy against mocker workers
 * on generated conversations. Checks behaviour, not timings: every request served, the same decisions
 * for the same seed, conversations kept where their history is at least as often as Dynamo's cost does,
 * and the cache serving at least as much.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { summarizeReplay } from './metrics.ts';
import { multiTurnTrace } from './multi-turn-trace.ts';
import { runReplay } from './replay-run.ts';

const SESSIONS = 16;
const TURNS = 4;
// Sessions in order, TURNS records each, in the order multiTurnTrace builds them (sorted by time later).
const trace = multiTurnTrace({
  sessions: SESSIONS,
  turns: TURNS,
  systemBlocks: 1,
  firstUserBlocks: 8,
  userBlocks: 1,
  answerBlocks: 1,
  outputTokens: 16,
  sessionRate: 8,
  thinkMs: 500,
  seed: 5,
});

/** Share of later turns routed to the worker that served the session's previous turn. */
function stickiness(workerOf: Map<string, string>): number {
  let same = 0;
  let later = 0;
  for (let s = 0; s < SESSIONS; s++) {
    for (let t = 1; t < TURNS; t++) {
      later++;
      if (workerOf.get(`${s}:${t}`) === workerOf.get(`${s}:${t - 1}`)) same++;
    }
  }
  return same / later;
}

async function run(router: string) {
  const result = await runReplay(trace, { router, workers: 4, numKvBlocks: 4096, seed: 1 });
  // A record's session and turn: its prompt's first user block identifies the session, its length the turn.
  const bySessionTurn = new Map<string, string>();
  const firstBlock = new Map<number, number>();
  for (const rec of result.records) {
    const t = trace[rec.index]!;
    const key = t.hashIds[1]!;
    if (!firstBlock.has(key)) firstBlock.set(key, firstBlock.size);
    const turn = (t.hashIds.length - 9) / 2;
    bySessionTurn.set(`${firstBlock.get(key)}:${turn}`, rec.workerId);
  }
  return { result, metrics: summarizeReplay(result), sticky: stickiness(bySessionTurn) };
}

describe('replay --router kv-ttft', () => {
  it('serves every request, deterministically, and keeps conversations sticky at least as kv does', async () => {
    const ttft = await run('kv-ttft');
    assert.equal(ttft.metrics.completed, trace.length);
    const again = await run('kv-ttft');
    assert.deepEqual(
      again.result.records.map((r) => r.workerId),
      ttft.result.records.map((r) => r.workerId),
    );
    const kv = await run('kv');
    assert.ok(ttft.sticky >= kv.sticky, `sticky ${ttft.sticky} vs kv ${kv.sticky}`);
    assert.ok(ttft.metrics.prefixHitRate! >= kv.metrics.prefixHitRate!, 'hit rate at least kv’s');
  });
});
