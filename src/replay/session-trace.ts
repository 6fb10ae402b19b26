/**
 * Generated multi-turn traces in the Mooncake format (`dhw trace generate`): sessions whose prompts grow
 * turn by turn, system prompts (or tool definitions) shared across sessions, think time between turns, and
 * a Poisson or bursty stream of session starts. Seeded: the same options give the same file, byte for byte.
 * Like a web load generator that replays *user sessions* (log in, browse, think, click) instead of
 * independent hits, because caches behave differently when a user comes back.
 *
 *   session s ─ turn 1: [shared prefix p][user message 1]                                 → output 1
 *             ─ turn 2: [shared prefix p][user message 1][output 1][user message 2]       → output 2
 *             ─ turn 3: [ ... everything turn 2 sent ... ][output 2][user message 3]       → ...
 *
 * hash_ids (one id per `traceBlockSize` tokens, chained as in Mooncake): turn k repeats the ids of every
 * FULL block of turn k−1's prompt, then fresh ids; the last, partial block of turn k−1 gets a fresh id
 * because its content now continues with the output. The first ⌊prefix/B⌋ ids are the shared prefix's, the
 * same in every session that uses it. Defaults per kind and where they come from: README "Generated traces".
 */
import { createRng, type Rng } from '../util/prng.ts';
import {
  type Distribution,
  formatDistribution,
  parseDistribution,
  sample,
  sampleCount,
} from './distributions.ts';
import { ReplayConfigError } from './errors.ts';
import { MOONCAKE_BLOCK_SIZE, type TraceRecord } from './trace.ts';

export const SESSION_TRACE_KINDS = ['conversation', 'tool-agent', 'shared-prefix'] as const;
export type SessionTraceKind = (typeof SESSION_TRACE_KINDS)[number];
export type ArrivalProcess = 'poisson' | 'bursty';

export interface SessionTraceOptions {
  kind: SessionTraceKind;
  /** Sessions (conversations, agent runs; shared-prefix: single requests). */
  sessions: number;
  /** Mean turns per session: geometric, at least 1 (1 = single-turn requests). */
  turnsMean: number;
  /** ms between a turn's answer and the next turn (the user reading, a tool running). */
  thinkTimeMs: Distribution;
  /** Tokens of the prefix sessions share (a system prompt, tool definitions, a document). */
  systemPromptTokens: number;
  /** Distinct shared prefixes; each session uses one, picked uniformly. */
  systemPrompts: number;
  /** New tokens of a session's first turn, after the shared prefix. */
  isl: Distribution;
  /** New tokens of each later turn (the next user message or tool result). */
  turnIsl: Distribution;
  /** Output tokens of every turn. */
  osl: Distribution;
  /** How sessions start: a Poisson process, or bursts of `burstSize` sessions on average. */
  arrival: ArrivalProcess;
  /** Sessions started per second (mean). */
  rate: number;
  /** Bursty arrivals: mean sessions per burst (geometric); bursts start as a Poisson process. */
  burstSize: number;
  /** A session ends before a turn whose prompt would exceed this many tokens. */
  maxContext: number;
  /**
   * Stamp every request at the start of its slot of this many ms (0: exact times). A production log often
   * keeps coarse timestamps: Mooncake's conversation trace is on a 3,000 ms grid, ~10 requests per stamp,
   * which a replay sends at the same instant (router README, round 8).
   */
  timestampGridMs: number;
  /**
   * Timestamps: turn k+1 is stamped at turn k's timestamp + output × this + think time, a nominal decode
   * speed (closed-loop replay ignores timestamps and waits for the real answer instead).
   */
  nominalItlMs: number;
  seed: number;
  /** Tokens per hash id (512, as the Mooncake traces). */
  traceBlockSize: number;
}

/** What differs between kinds; README "Generated traces" says which published statistic each matches. */
type KindPreset = Omit<
  SessionTraceOptions,
  'kind' | 'seed' | 'traceBlockSize' | 'nominalItlMs' | 'maxContext' | 'timestampGridMs'
>;

const d = (spec: string, flag: string) => parseDistribution(spec, flag);

export const SESSION_TRACE_PRESETS: Record<SessionTraceKind, KindPreset> = {
  conversation: {
    sessions: 1000,
    turnsMean: 1.6,
    thinkTimeMs: d('exp:60000', 'think-time'),
    systemPromptTokens: 512,
    systemPrompts: 1,
    isl: d('lognormal:10500,1.1', 'isl'),
    turnIsl: d('lognormal:1500,1.5', 'turn-isl'),
    osl: d('lognormal:343,0.8', 'osl'),
    arrival: 'poisson',
    rate: 2.1,
    burstSize: 8,
  },
  'tool-agent': {
    sessions: 1000,
    turnsMean: 2,
    thinkTimeMs: d('exp:2000', 'think-time'),
    systemPromptTokens: 2048,
    systemPrompts: 32,
    isl: d('lognormal:3900,1.0', 'isl'),
    turnIsl: d('lognormal:2600,1.5', 'turn-isl'),
    osl: d('lognormal:182,1.0', 'osl'),
    arrival: 'bursty',
    rate: 3.3,
    burstSize: 4,
  },
  'shared-prefix': {
    sessions: 4000,
    turnsMean: 1,
    thinkTimeMs: d('0', 'think-time'),
    systemPromptTokens: 10240,
    systemPrompts: 128,
    isl: d('lognormal:5000,1.2', 'isl'),
    turnIsl: d('0', 'turn-isl'),
    osl: d('lognormal:149,1.0', 'osl'),
    arrival: 'poisson',
    rate: 3.9,
    burstSize: 8,
  },
};

export const SESSION_TRACE_COMMON_DEFAULTS = {
  maxContext: 131_072,
  timestampGridMs: 0,
  nominalItlMs: 20,
  seed: 0,
  traceBlockSize: MOONCAKE_BLOCK_SIZE,
} as const;

/** A kind's defaults with `overrides` on top. */
export function sessionTraceOptions(
  kind: SessionTraceKind,
  overrides: Partial<SessionTraceOptions> = {},
): SessionTraceOptions {
  const defined = Object.fromEntries(Object.entries(overrides).filter(([, v]) => v !== undefined));
  return { kind, ...SESSION_TRACE_PRESETS[kind], ...SESSION_TRACE_COMMON_DEFAULTS, ...defined };
}

/** The options as the flags that reproduce them (for the generator's summary line). */
export function describeSessionTrace(o: SessionTraceOptions): string {
  return [
    `--kind ${o.kind} --sessions ${o.sessions} --turns-mean ${o.turnsMean}`,
    `--think-time ${formatDistribution(o.thinkTimeMs)} --system-prompt-tokens ${o.systemPromptTokens}`,
    `--system-prompts ${o.systemPrompts} --isl ${formatDistribution(o.isl)}`,
    `--turn-isl ${formatDistribution(o.turnIsl)} --osl ${formatDistribution(o.osl)}`,
    `--arrival ${o.arrival} --rate ${o.rate}${o.arrival === 'bursty' ? ` --burst-size ${o.burstSize}` : ''}`,
    `--max-context ${o.maxContext} --seed ${o.seed}`,
    o.timestampGridMs === 0 ? '' : `--timestamp-grid ${o.timestampGridMs}`,
    o.traceBlockSize === MOONCAKE_BLOCK_SIZE ? '' : `--trace-block-size ${o.traceBlockSize}`,
  ]
    .filter((part) => part !== '')
    .join(' ');
}

/** Generate the trace: records sorted by timestamp (ties keep generation order), lines numbered from 1. */
export function sessionTrace(o: SessionTraceOptions): TraceRecord[] {
  checkOptions(o);
  // Separate streams, so that changing the arrival process keeps every session's content, and vice versa.
  const arrivals = createRng(o.seed);
  const content = createRng(o.seed + 0x5eed);
  const ids = new IdAllocator();
  const prefixes = Array.from({ length: o.systemPrompts }, () =>
    ids.fresh(Math.floor(o.systemPromptTokens / o.traceBlockSize)),
  );
  const starts = sessionStarts(o, arrivals);
  const records: TraceRecord[] = [];
  for (let s = 0; s < o.sessions; s++) {
    const prefix = prefixes[content.nextInt(prefixes.length)]!;
    records.push(...sessionTurns(o, `s${s}`, starts[s]!, prefix, content, ids));
  }
  if (o.timestampGridMs > 0)
    for (const r of records)
      r.timestampMs = Math.floor(r.timestampMs / o.timestampGridMs) * o.timestampGridMs;
  records.sort((a, b) => a.timestampMs - b.timestampMs);
  records.forEach((r, i) => {
    r.line = i + 1;
  });
  return records;
}

/** One session's turns, each prompt = the previous prompt + its output + new tokens. */
function sessionTurns(
  o: SessionTraceOptions,
  sessionId: string,
  startMs: number,
  prefix: readonly number[],
  rng: Rng,
  ids: IdAllocator,
): TraceRecord[] {
  const B = o.traceBlockSize;
  const turns = geometricTurns(o.turnsMean, rng);
  const out: TraceRecord[] = [];
  const firstNew = Math.min(sampleCount(o.isl, rng), Math.max(1, o.maxContext - o.systemPromptTokens));
  let input = o.systemPromptTokens + firstNew;
  let hashIds = [...prefix, ...ids.fresh(Math.ceil(input / B) - prefix.length)];
  let timestampMs = startMs;
  let delayMs: number | undefined;
  for (let turn = 0; turn < turns; turn++) {
    const outputLength = sampleCount(o.osl, rng);
    const record: TraceRecord = {
      line: 0,
      timestampMs,
      inputLength: input,
      outputLength,
      hashIds,
      sessionId,
    };
    if (delayMs !== undefined) record.delayMs = delayMs;
    out.push(record);
    // The next turn: this prompt's full blocks are kept, the partial last block now continues.
    delayMs = Math.round(sample(o.thinkTimeMs, rng));
    const next = input + outputLength + sampleCount(o.turnIsl, rng);
    if (next > o.maxContext) break;
    const kept = Math.floor(input / B);
    hashIds = [...hashIds.slice(0, kept), ...ids.fresh(Math.ceil(next / B) - kept)];
    timestampMs += Math.round(outputLength * o.nominalItlMs) + delayMs;
    input = next;
  }
  return out;
}

/** Turns of one session: geometric with mean `mean` (continue with probability 1 − 1/mean). */
function geometricTurns(mean: number, rng: Rng): number {
  const keepGoing = 1 - 1 / mean;
  let turns = 1;
  while (rng.nextFloat() < keepGoing) turns++;
  return turns;
}

/** Session start times (ms, ascending from 0): Poisson at `rate`, or Poisson bursts of geometric size. */
function sessionStarts(o: SessionTraceOptions, rng: Rng): number[] {
  const starts: number[] = [];
  let t = 0;
  const gapMs = (rate: number) => (-Math.log(1 - rng.nextFloat()) / rate) * 1000;
  while (starts.length < o.sessions) {
    if (starts.length > 0) t += gapMs(o.arrival === 'bursty' ? o.rate / o.burstSize : o.rate);
    if (o.arrival === 'poisson') {
      starts.push(Math.round(t));
      continue;
    }
    // A burst: a geometric number of sessions (mean burstSize) arriving within one second.
    const size = geometricTurns(o.burstSize, rng);
    for (let i = 0; i < size && starts.length < o.sessions; i++) {
      starts.push(Math.round(t + rng.nextFloat() * 1000));
    }
  }
  return starts.sort((a, b) => a - b);
}

/** Hands out consecutive block ids, as Mooncake's remapping does (each new block content, the next id). */
class IdAllocator {
  private next = 0;

  fresh(count: number): number[] {
    const ids = new Array<number>(Math.max(0, count));
    for (let i = 0; i < ids.length; i++) ids[i] = this.next++;
    return ids;
  }
}

function checkOptions(o: SessionTraceOptions): void {
  const counts: Array<[string, number, number]> = [
    ['sessions', o.sessions, 1],
    ['system-prompts', o.systemPrompts, 1],
    ['system-prompt-tokens', o.systemPromptTokens, 0],
    ['max-context', o.maxContext, 1],
    ['timestamp-grid', o.timestampGridMs, 0],
    ['trace-block-size', o.traceBlockSize, 1],
  ];
  for (const [flag, value, min] of counts) {
    if (!Number.isSafeInteger(value) || value < min) {
      throw new ReplayConfigError(`--${flag} must be an integer ≥ ${min}, got ${value}`);
    }
  }
  const positive: Array<[string, number]> = [
    ['rate', o.rate],
    ['turns-mean', o.turnsMean],
    ['burst-size', o.burstSize],
  ];
  for (const [flag, value] of positive) {
    if (!(Number.isFinite(value) && value > 0)) {
      throw new ReplayConfigError(`--${flag} must be a number > 0, got ${value}`);
    }
  }
  if (o.turnsMean < 1) throw new ReplayConfigError(`--turns-mean must be ≥ 1, got ${o.turnsMean}`);
  if (o.burstSize < 1) throw new ReplayConfigError(`--burst-size must be ≥ 1, got ${o.burstSize}`);
  if (o.systemPromptTokens >= o.maxContext) {
    throw new ReplayConfigError(
      `--system-prompt-tokens ${o.systemPromptTokens} leaves no room under --max-context ${o.maxContext}`,
    );
  }
  if (!(Number.isFinite(o.nominalItlMs) && o.nominalItlMs >= 0)) {
    throw new ReplayConfigError(`nominalItlMs must be a number ≥ 0, got ${o.nominalItlMs}`);
  }
  if (!Number.isFinite(o.seed)) throw new ReplayConfigError(`--seed must be a number, got ${o.seed}`);
}
