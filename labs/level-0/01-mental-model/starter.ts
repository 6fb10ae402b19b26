/**
 * Lab 0.1's exercise: read one request's timeline the way a load generator does. The client sends a request,
 * the frontend routes it, the worker prefills, and tokens stream back (the sequence diagram in README.md);
 * from the timestamps alone, compute what every serving benchmark reports: time to first token (TTFT), the
 * gaps between tokens (ITL), the mean time per output token after the first (TPOT), the end-to-end latency
 * and the stream's decode speed in tokens per second. Like reading `curl -w '%{time_starttransfer}'` and
 * the arrival times of a chunked response.
 *
 *   cp labs/level-0/01-mental-model/starter.ts my-timeline.ts
 *   npm run lab -- 0.1 --check ./my-timeline.ts        # PASS / FAIL per timeline, with hints
 *
 * The file imports nothing, so a copy works anywhere.
 */

/** What happened, as the client and the logs saw it. Times are milliseconds on one clock. */
export type TimelineEventKind = 'sent' | 'routed' | 'prefill_done' | 'token';

export interface TimelineEvent {
  atMs: number;
  kind: TimelineEventKind;
}

export interface StreamMetrics {
  /** Tokens the client received. */
  outputTokens: number;
  /** From the client sending the request to the first token arriving. */
  ttftMs: number;
  /** Gap between each token and the one before it: n − 1 numbers for n tokens. */
  itlMs: number[];
  /** Mean time per output token after the first; NaN when only one token came back. */
  tpotMs: number;
  /** From the client sending the request to the last token arriving. */
  e2eMs: number;
  /** How fast text flows once it has started: tokens per second after the first (1000 / TPOT). */
  decodeTokensPerSec: number;
}

/** The metrics of one streamed request. `events` are in time order. */
export function streamMetrics(events: readonly TimelineEvent[]): StreamMetrics {
  const tokenTimes = events.filter((e) => e.kind === 'token').map((e) => e.atMs);
  // TODO 1: TTFT. Which event starts the clock: the client's, the router's or the worker's?
  // TODO 2: ITL, one gap per pair of consecutive tokens.
  // TODO 3: TPOT: the mean gap after the first token (NaN for a one-token reply).
  // TODO 4: end-to-end latency, and the decode speed (NaN for a one-token reply).
  return {
    outputTokens: tokenTimes.length,
    ttftMs: Number.NaN,
    itlMs: [],
    tpotMs: Number.NaN,
    e2eMs: Number.NaN,
    decodeTokensPerSec: Number.NaN,
  };
}
