/**
 * Lab 0.1's reference solution (read it after trying the starter): a request's latency metrics from its
 * timeline, the way bench/lib/request-timing.ts computes them for every benchmark in this project.
 *
 *   sent ──TTFT──► t[0] ──ITL──► t[1] ──ITL──► ... t[n-1]      TPOT = (t[n-1] − t[0]) / (n − 1)
 *
 *   npm run lab -- 0.1 --check --reference
 */
export type TimelineEventKind = 'sent' | 'routed' | 'prefill_done' | 'token';

export interface TimelineEvent {
  atMs: number;
  kind: TimelineEventKind;
}

export interface StreamMetrics {
  outputTokens: number;
  ttftMs: number;
  itlMs: number[];
  tpotMs: number;
  e2eMs: number;
  decodeTokensPerSec: number;
}

export function streamMetrics(events: readonly TimelineEvent[]): StreamMetrics {
  const sent = events.find((e) => e.kind === 'sent');
  if (!sent) throw new Error('the timeline has no "sent" event: the clock starts when the client sends');
  const tokenTimes = events.filter((e) => e.kind === 'token').map((e) => e.atMs);
  const n = tokenTimes.length;
  const first = tokenTimes[0] ?? Number.NaN;
  const last = tokenTimes[n - 1] ?? Number.NaN;
  // The user's clock starts when they hit enter, not when a server component first saw the request.
  const tpotMs = n > 1 ? (last - first) / (n - 1) : Number.NaN;
  return {
    outputTokens: n,
    ttftMs: first - sent.atMs,
    itlMs: tokenTimes.slice(1).map((time, i) => time - tokenTimes[i]!),
    tpotMs,
    e2eMs: last - sent.atMs,
    decodeTokensPerSec: 1000 / tpotMs,
  };
}
