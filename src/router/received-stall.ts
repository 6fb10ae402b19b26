/**
 * Received stall: the prefill a request will share its decode steps with if it runs on a worker, predicted
 * from the prefill the router has recently sent there. The stall term of `kv-delay` prices the delay a
 * request's prefill CAUSES the decoders already on a worker; this is the other side of the same pairwise
 * interaction, the delay it will RECEIVE there while it decodes (router README, round 5):
 *
 *   life      = mean time from first token to last, learned from finished requests (decayed mean)
 *   recent_w  = uncached prompt tokens the router sent to worker w in the last `life` ms
 *   received  = recent_w / R                 ms of prefill chunks expected in its decode steps on w,
 *                                            if the next `life` ms look like the last
 *
 * Like a TCP sender reading the path's recent queueing to predict the delay a new flow will see: a rate
 * measured over the window that matters (the flow's own lifetime), no tuned constant. Off by default in
 * `kv-delay` (`receivedStall: true`): measured on the 26 study inputs it fixes the TPOT tails against `kv`
 * at 1× but moves hot documents off their workers at 4× (below 90 % of the hit-rate ceiling on 10 of 13).
 */
import type { WorkerId } from '../protocols/ids.ts';

/** One routing decision's prefill: when, where, how many uncached tokens. */
interface SentPrefill {
  atMs: number;
  workerId: WorkerId;
  tokens: number;
}

export class ReceivedStallEstimator {
  /** Decisions in time order; those older than the window at the time of a query are dropped (it moves slowly). */
  private readonly sent: SentPrefill[] = [];
  private head = 0;
  private lifeMs = 0;
  private lifeWeight = 0;

  constructor(private readonly decay = 0.99) {
    if (!(decay > 0 && decay < 1)) throw new RangeError(`decode-life decay must be in (0, 1), got ${decay}`);
  }

  /** The router sent `tokens` uncached prompt tokens to `workerId` at `atMs` (non-decreasing). */
  sentPrefill(workerId: WorkerId, tokens: number, atMs: number): void {
    if (tokens > 0) this.sent.push({ atMs, workerId, tokens });
  }

  /** A request decoded from its first token to its last in `decodeMs`. */
  observeDecode(decodeMs: number): void {
    if (!(decodeMs >= 0) || !Number.isFinite(decodeMs)) return;
    this.lifeMs = this.lifeMs * this.decay + decodeMs;
    this.lifeWeight = this.lifeWeight * this.decay + 1;
  }

  /** Mean decode life (ms); 0 until a request has finished (then nothing is priced). */
  get meanLifeMs(): number {
    return this.lifeWeight > 0 ? this.lifeMs / this.lifeWeight : 0;
  }

  /** Uncached tokens sent to each worker in the last `meanLifeMs` before `nowMs`. */
  recentTokens(nowMs: number): Map<WorkerId, number> {
    const since = nowMs - this.meanLifeMs;
    while (this.head < this.sent.length && this.sent[this.head]!.atMs < since) this.head++;
    if (this.head > 1024 && this.head * 2 > this.sent.length) {
      this.sent.splice(0, this.head); // compact now and then, not per decision
      this.head = 0;
    }
    const out = new Map<WorkerId, number>();
    for (let i = this.head; i < this.sent.length; i++) {
      const s = this.sent[i]!;
      out.set(s.workerId, (out.get(s.workerId) ?? 0) + s.tokens);
    }
    return out;
  }
}
