import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createRng } from '../util/prng.ts';
import { cacheCeiling } from './cache-ceiling.ts';
import { groupSessions } from './closed-loop.ts';
import { distributionMean, parseDistribution, sample } from './distributions.ts';
import { ReplayConfigError } from './errors.ts';
import { runReplay } from './replay-run.ts';
import {
  SESSION_TRACE_KINDS,
  type SessionTraceOptions,
  sessionTrace,
  sessionTraceOptions,
} from './session-trace.ts';
import { formatTraceLine, parseTrace, type TraceRecord } from './trace.ts';

const B = 512;
const jsonl = (records: readonly TraceRecord[]) => records.map(formatTraceLine).join('\n');
const meanOf = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const within = (actual: number, expected: number, tolerance: number, what: string) =>
  assert.ok(
    Math.abs(actual - expected) <= tolerance * expected,
    `${what}: ${actual.toFixed(2)}, expected ${expected} ± ${(tolerance * 100).toFixed(0)} %`,
  );

function sessionsOf(records: readonly TraceRecord[]): TraceRecord[][] {
  return groupSessions(records).map((turns) => turns.map((i) => records[i]!));
}

describe('sessionTrace', () => {
  it('is deterministic for a seed (byte for byte) and differs across seeds', () => {
    for (const kind of SESSION_TRACE_KINDS) {
      const o = sessionTraceOptions(kind, { sessions: 200, seed: 3 });
      assert.equal(jsonl(sessionTrace(o)), jsonl(sessionTrace(o)), kind);
      assert.notEqual(jsonl(sessionTrace(o)), jsonl(sessionTrace({ ...o, seed: 4 })), kind);
    }
  });

  it('writes valid Mooncake lines that parse back to the same records, in timestamp order', () => {
    for (const kind of SESSION_TRACE_KINDS) {
      const records = sessionTrace(sessionTraceOptions(kind, { sessions: 100 }));
      const parsed = parseTrace(jsonl(records));
      assert.deepEqual(parsed, records, kind);
      assert.ok(records.every((r, i) => i === 0 || r.timestampMs >= records[i - 1]!.timestampMs));
      assert.ok(records.every((r) => Number.isInteger(r.timestampMs)));
    }
  });

  it('grows each session: turn k = turn k−1 + its output + new tokens, keeping its full blocks', () => {
    for (const kind of ['conversation', 'tool-agent'] as const) {
      const records = sessionTrace(sessionTraceOptions(kind, { sessions: 300, turnsMean: 4 }));
      let checked = 0;
      for (const turns of sessionsOf(records)) {
        assert.equal(turns[0]!.delayMs, undefined, 'a first turn has no delay');
        for (let k = 1; k < turns.length; k++) {
          const prev = turns[k - 1]!;
          const cur = turns[k]!;
          assert.ok(cur.inputLength > prev.inputLength + prev.outputLength, 'new tokens every turn');
          const kept = Math.floor(prev.inputLength / B);
          assert.deepEqual(cur.hashIds.slice(0, kept), prev.hashIds.slice(0, kept), 'prefix kept');
          // Everything after the kept blocks is new content: ids never seen in the session before.
          const before = new Set(turns.slice(0, k).flatMap((t) => t.hashIds));
          assert.ok(
            cur.hashIds.slice(kept).every((id) => !before.has(id)),
            'fresh ids after the prefix',
          );
          assert.ok(cur.delayMs !== undefined && cur.delayMs >= 0, 'later turns carry their think time');
          assert.ok(cur.timestampMs >= prev.timestampMs + cur.delayMs, 'stamped after the think time');
          checked++;
        }
      }
      assert.ok(checked > 300, `${kind}: ${checked} later turns checked`);
    }
  });

  it('shares the system prompt blocks across sessions, and only those', () => {
    const o = sessionTraceOptions('tool-agent', {
      sessions: 400,
      systemPromptTokens: 4 * B,
      systemPrompts: 3,
    });
    const firsts = sessionsOf(sessionTrace(o)).map((turns) => turns[0]!);
    const prefixes = new Set(firsts.map((r) => r.hashIds.slice(0, 4).join(',')));
    assert.equal(prefixes.size, 3, 'three distinct shared prefixes');
    const after = firsts.flatMap((r) => r.hashIds.slice(4));
    assert.equal(new Set(after).size, after.length, 'no id after the prefix is shared between sessions');
  });

  it('makes the asked number of sessions with about the asked mean of turns', () => {
    const o = sessionTraceOptions('conversation', { sessions: 4000, turnsMean: 3 });
    const sessions = sessionsOf(sessionTrace(o));
    assert.equal(sessions.length, 4000);
    // Geometric turns, mean 3 (sd about 2.4): the mean of 4,000 is within ±0.2 with overwhelming odds.
    // A few sessions end early at the context limit, so only the lower side is loosened.
    const turns = meanOf(sessions.map((s) => s.length));
    assert.ok(turns > 2.75 && turns < 3.2, `mean turns ${turns}`);
    assert.ok(sessions.every((s) => s.every((r) => r.inputLength <= o.maxContext)));
  });

  it('draws lengths and think times with the asked means (large samples)', () => {
    const o = sessionTraceOptions('conversation', {
      sessions: 6000,
      turnsMean: 2,
      systemPromptTokens: 1024,
      isl: parseDistribution('lognormal:3000,1.0', 'isl'),
      turnIsl: parseDistribution('exp:400', 'turn-isl'),
      osl: parseDistribution('uniform:100,300', 'osl'),
      thinkTimeMs: parseDistribution('exp:5000', 'think-time'),
      nominalItlMs: 0,
    });
    const sessions = sessionsOf(sessionTrace(o));
    within(meanOf(sessions.map((s) => s[0]!.inputLength - 1024)), 3000, 0.05, 'first-turn new tokens');
    const later = sessions.flatMap((s) =>
      s.slice(1).map((cur, k) => cur.inputLength - s[k]!.inputLength - s[k]!.outputLength),
    );
    within(meanOf(later), 400, 0.06, 'later-turn new tokens');
    within(meanOf(sessions.flat().map((r) => r.outputLength)), 200, 0.03, 'output tokens');
    const delays = sessions.flatMap((s) => s.slice(1).map((r) => r.delayMs!));
    within(meanOf(delays), 5000, 0.06, 'think time');
  });

  it('starts sessions as a Poisson process at the rate, or in bursts with the same mean rate', () => {
    const starts = (arrival: SessionTraceOptions['arrival']) =>
      sessionsOf(
        sessionTrace(
          sessionTraceOptions('shared-prefix', { sessions: 5000, rate: 4, arrival, burstSize: 8 }),
        ),
      )
        .map((s) => s[0]!.timestampMs)
        .sort((a, b) => a - b);
    const cv = (xs: number[]) => {
      const gaps = xs.slice(1).map((x, i) => x - xs[i]!);
      const m = meanOf(gaps);
      return Math.sqrt(meanOf(gaps.map((g) => (g - m) ** 2))) / m;
    };
    const poisson = starts('poisson');
    within(5000 / (poisson.at(-1)! / 1000), 4, 0.06, 'Poisson sessions per second');
    within(cv(poisson), 1, 0.1, 'Poisson gaps CV');
    const bursty = starts('bursty');
    within(5000 / (bursty.at(-1)! / 1000), 4, 0.2, 'bursty sessions per second');
    assert.ok(cv(bursty) > 2, `bursty gaps CV ${cv(bursty).toFixed(2)}: burstier than Poisson`);
  });

  it('stamps requests at the start of their slot with --timestamp-grid, as a coarse production log does', () => {
    const o = sessionTraceOptions('conversation', { sessions: 400, seed: 2 });
    const exact = sessionTrace(o);
    const grid = sessionTrace({ ...o, timestampGridMs: 3000 });
    const key = (r: TraceRecord) => `${r.sessionId}/${r.inputLength}`;
    const exactAt = new Map(exact.map((r) => [key(r), r.timestampMs]));
    assert.equal(grid.length, exact.length);
    for (const r of grid) {
      assert.equal(r.timestampMs % 3000, 0, 'on the grid');
      const t = exactAt.get(key(r))!;
      assert.ok(r.timestampMs <= t && t < r.timestampMs + 3000, `${key(r)}: ${t} → ${r.timestampMs}`);
    }
    const perStamp = grid.length / new Set(grid.map((r) => r.timestampMs)).size;
    assert.ok(
      perStamp > 2,
      `${perStamp.toFixed(1)} requests per stamp: the grid makes simultaneous arrivals`,
    );
    assert.throws(
      () => sessionTrace({ ...o, timestampGridMs: -1 }),
      /--timestamp-grid must be an integer ≥ 0/,
    );
  });

  it('reproduces the published Mooncake means with its defaults (within 10 %)', () => {
    // FAST'25 traces (README "Generated traces"): conversation 12,035 / 343 tokens, 40 % cache ratio;
    // tool&agent 8,596 / 182, 59 %; synthetic 15,325 / 149, 66 %.
    const published = {
      conversation: [12_035, 343, 0.4],
      'tool-agent': [8_596, 182, 0.59],
      'shared-prefix': [15_325, 149, 0.66],
    } as const;
    for (const kind of SESSION_TRACE_KINDS) {
      const records = sessionTrace(sessionTraceOptions(kind, { sessions: 3000 }));
      const [input, output, reuse] = published[kind];
      within(meanOf(records.map((r) => r.inputLength)), input, 0.1, `${kind} mean input`);
      within(meanOf(records.map((r) => r.outputLength)), output, 0.1, `${kind} mean output`);
      const ceiling = cacheCeiling(records, { blockSize: B, traceBlockSize: B, capacityBlocks: Infinity });
      within(ceiling.infiniteHitRate, reuse, 0.1, `${kind} reusable share`);
    }
  });

  it('refuses options that cannot generate, naming the flag', () => {
    const o = sessionTraceOptions('conversation');
    assert.throws(() => sessionTrace({ ...o, sessions: 0 }), /--sessions must be an integer ≥ 1/);
    assert.throws(() => sessionTrace({ ...o, rate: 0 }), /--rate must be a number > 0/);
    assert.throws(() => sessionTrace({ ...o, turnsMean: 0.5 }), /--turns-mean must be ≥ 1/);
    assert.throws(() => sessionTrace({ ...o, systemPromptTokens: 200_000 }), ReplayConfigError);
  });

  it('replays: every request of a generated trace completes, in timestamp and closed-loop modes', async () => {
    const records = sessionTrace(
      sessionTraceOptions('tool-agent', { sessions: 12, isl: parseDistribution('800', 'isl') }),
    );
    for (const concurrency of [undefined, 3]) {
      const result = await runReplay(records, { router: 'kv', workers: 2, numKvBlocks: 4096, concurrency });
      assert.equal(result.records.filter((r) => r.rejected === undefined).length, records.length);
    }
  });
});

describe('distributions', () => {
  it('parses every form and samples with the stated mean', () => {
    const rng = createRng(1);
    for (const spec of ['250', 'fixed:250', 'exp:250', 'lognormal:250,1.5', 'uniform:0,500']) {
      const d = parseDistribution(spec, 'osl');
      assert.equal(distributionMean(d), 250, spec);
      const draws = Array.from({ length: 50_000 }, () => sample(d, rng));
      within(meanOf(draws), 250, 0.04, spec);
      assert.ok(
        draws.every((x) => x >= 0),
        spec,
      );
    }
  });

  it('names the flag and the forms on a bad spec', () => {
    assert.throws(() => parseDistribution('gauss:1', 'isl'), /--isl "gauss:1": unknown distribution/);
    assert.throws(() => parseDistribution('lognormal:100', 'isl'), /lognormal takes 2 parameters/);
    assert.throws(() => parseDistribution('uniform:5,1', 'osl'), /MAX must be ≥ MIN/);
    assert.throws(() => parseDistribution('exp:-1', 'osl'), /numbers ≥ 0/);
  });
});
