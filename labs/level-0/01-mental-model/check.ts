/**
 * Lab 0.1's check: does a learner's `streamMetrics(events)` read a request's timeline the way our benchmarks
 * do? Each timeline (a short reply, a one-token reply, a clock that does not start at zero, a stall
 * mid-stream, and a real request through the mocker) is given to the learner's function and to
 * `requestMetrics` from bench/lib/request-timing.ts, the code every benchmark in this project reports with;
 * the numbers must agree exactly (to floating-point rounding). Like checking a log parser against the
 * monitoring system's own figures.
 *
 *   npm run lab -- 0.1 --check [FILE]        # default: starter.ts as shipped
 *   npm run lab -- 0.1 --check --reference
 */

import { benchRequest, syntheticPrompt } from '../../../bench/lib/prompts.ts';
import { requestMetrics, timeRequest } from '../../../bench/lib/request-timing.ts';
import { MockEngine } from '../../../src/mocker/index.ts';
import {
  type Check,
  type CheckResult,
  checkMain,
  isMain,
  loadSolution,
  relativeError,
  runChecks,
} from '../../lib/exercise.ts';
import type { StreamMetrics, TimelineEvent } from './reference.ts';

export interface TimelineSolution {
  streamMetrics(events: readonly TimelineEvent[]): StreamMetrics;
}

/** A timeline: the client's send, the router's and worker's log lines, then token arrivals. */
function timeline(
  sent: number,
  routed: number | undefined,
  prefillDone: number | undefined,
  tokens: number[],
) {
  const events: TimelineEvent[] = [{ atMs: sent, kind: 'sent' }];
  if (routed !== undefined) events.push({ atMs: routed, kind: 'routed' });
  if (prefillDone !== undefined) events.push({ atMs: prefillDone, kind: 'prefill_done' });
  for (const atMs of tokens) events.push({ atMs, kind: 'token' });
  return events;
}

/** What the benchmarks' own code says about this timeline. */
function expectedMetrics(events: readonly TimelineEvent[]): StreamMetrics {
  const sentAt = events.find((e) => e.kind === 'sent')!.atMs;
  const tokenTimes = events.filter((e) => e.kind === 'token').map((e) => e.atMs);
  const m = requestMetrics({ sentAt, tokenTimes, tokenIds: [], numCachedTokens: 0, finishReason: 'length' });
  return {
    outputTokens: m.outputTokens,
    ttftMs: m.ttftMs,
    itlMs: m.itlMs,
    tpotMs: m.tpotMs,
    e2eMs: m.e2eMs,
    decodeTokensPerSec: 1000 / m.tpotMs,
  };
}

const same = (a: number, b: number) => (Number.isNaN(a) && Number.isNaN(b)) || relativeError(a, b) < 1e-9;
const fmt = (x: number) => (Number.isInteger(x) ? String(x) : x.toFixed(3));

/** The usual mistake behind a wrong figure, if we recognise it. */
function hint(field: keyof StreamMetrics, got: number, events: readonly TimelineEvent[]): string {
  const at = (kind: TimelineEvent['kind']) => events.find((e) => e.kind === kind)?.atMs ?? Number.NaN;
  const tokens = events.filter((e) => e.kind === 'token').map((e) => e.atMs);
  const [sent, first, last, n] = [at('sent'), tokens[0]!, tokens[tokens.length - 1]!, tokens.length];
  if (field === 'ttftMs' && same(got, first - at('routed')))
    return "the clock started at 'routed', a server's log line; the user's wait starts at 'sent'";
  if (field === 'ttftMs' && same(got, at('prefill_done') - sent))
    return "'prefill_done' is the worker's; the user sees the first token when its 'token' event arrives";
  if ((field === 'ttftMs' || field === 'e2eMs') && sent !== 0 && (same(got, first) || same(got, last)))
    return "this clock does not start at 0: subtract the 'sent' time";
  if (field === 'tpotMs' && (same(got, (last - sent) / n) || same(got, (last - sent) / (n - 1))))
    return 'that includes the wait for the first token; TPOT averages only the gaps after it';
  if (field === 'tpotMs' && same(got, (last - first) / n)) return 'n tokens have n − 1 gaps between them';
  if (field === 'decodeTokensPerSec' && same(got, (n * 1000) / (last - sent)))
    return "that is the whole request's rate, TTFT included; the decode speed is 1000 / TPOT";
  if (field === 'e2eMs' && same(got, last - first)) return "end to end starts when the client sends ('sent')";
  if (Number.isNaN(got)) return 'NaN: is this still a TODO?';
  return 'see the diagram in reference.ts after trying';
}

/** Compares field by field; the first disagreement, with its likely cause, or undefined. */
function compare(solution: TimelineSolution, events: readonly TimelineEvent[]): string | undefined {
  const got = solution.streamMetrics(events);
  const want = expectedMetrics(events);
  const scalar = (fields: readonly (keyof Omit<StreamMetrics, 'itlMs'>)[]) => {
    const field = fields.find((f) => !same(got[f], want[f]));
    return field === undefined
      ? undefined
      : `${field} = ${fmt(got[field])}, expected ${fmt(want[field])}: ${hint(field, got[field], events)}`;
  };
  const early = scalar(['outputTokens', 'ttftMs']);
  if (early) return early;
  if (got.itlMs.length !== want.itlMs.length) {
    return `itlMs has ${got.itlMs.length} gaps, expected ${want.itlMs.length}: ${want.outputTokens} tokens have ${want.itlMs.length} gaps between consecutive tokens`;
  }
  const wrongGap = want.itlMs.findIndex((gap, i) => !same(got.itlMs[i]!, gap));
  if (wrongGap >= 0) {
    return `itlMs[${wrongGap}] = ${fmt(got.itlMs[wrongGap]!)}, expected ${fmt(want.itlMs[wrongGap]!)} (token ${wrongGap + 1} minus token ${wrongGap})`;
  }
  return scalar(['tpotMs', 'e2eMs', 'decodeTokensPerSec']);
}

/** One real request through the mocker (Dynamo's GPU-fitted step times), timed as the benchmarks time it. */
async function mockerTimeline(): Promise<TimelineEvent[]> {
  const engine = new MockEngine({ speedupRatio: 1 });
  try {
    const prompt = syntheticPrompt(64, 1, engine.info.vocabSize);
    const timing = await timeRequest(engine, benchRequest('lab-0-1-check', prompt, 6));
    return timeline(timing.sentAt, undefined, undefined, timing.tokenTimes);
  } finally {
    await engine.close();
  }
}

export const CHECKS: Check<TimelineSolution>[] = [
  {
    title: 'a short reply: sent at 0, routed at 2, prefill done at 118, 5 tokens 30 ms apart from 120',
    run: (s) => compare(s, timeline(0, 2, 118, [120, 150, 180, 210, 240])),
  },
  {
    title: 'a one-token reply (max_tokens 1): no gaps, so no TPOT and no decode speed (NaN)',
    run: (s) => compare(s, timeline(1000, 1001.5, 1040, [1041])),
  },
  {
    title: 'a clock that does not start at zero (performance.now() timestamps)',
    run: (s) => compare(s, timeline(10523.25, 10524, 10601.5, [10603.75, 10612.5, 10621.25, 10630])),
  },
  {
    title: "a stall mid-stream (another request's prefill rode in the batch): ITL shows it, TPOT averages it",
    run: (s) => compare(s, timeline(0, 1, 40, [45, 65, 85, 265, 285, 305])),
  },
  {
    title: 'a real request through the mocker, timed by bench/lib/request-timing.ts',
    run: async (s) => compare(s, await mockerTimeline()),
  },
];

export async function checkTimeline(path: string): Promise<CheckResult[]> {
  const solution = await loadSolution<TimelineSolution>(path, ['streamMetrics']);
  return runChecks(CHECKS, solution);
}

if (isMain(import.meta.url)) await checkMain(import.meta.url, checkTimeline);
