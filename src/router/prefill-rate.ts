/**
 * The cluster's prefill rate (prompt tokens per ms), learned from the router's own observations: for each
 * request, the prefill work that stood in front of it on its worker when it was routed (queued uncached
 * tokens + its own uncached tokens) and the time its first token took. Like TCP's RTT estimator (an
 * exponentially weighted average of samples), but over sums, so long prompts weigh more than short ones:
 *
 *   rate = Σ decay^age · work_tokens / Σ decay^age · ttft_ms
 *
 * Workers of one model run the same engine, so one rate serves all of them. `kv-ttft` divides every
 * worker's queued work by this same rate: the rate turns its costs into milliseconds for the log but never
 * changes which worker is cheapest (a common positive factor does not move an argmin).
 */
export class PrefillRateEstimator {
  private work = 0;
  private time = 0;

  /**
   * @param priorTokensPerMs  shown until the first observation (a rate, so the log reads in ms from the
   *                          first decision); it has no effect on decisions.
   * @param decay             weight kept by the past at each new sample (0.99: ~100 samples of memory).
   */
  constructor(
    private readonly priorTokensPerMs: number,
    private readonly decay = 0.99,
  ) {
    if (!(priorTokensPerMs > 0))
      throw new RangeError(`prefill rate prior must be > 0, got ${priorTokensPerMs}`);
    if (!(decay > 0 && decay < 1)) throw new RangeError(`rate decay must be in (0, 1), got ${decay}`);
  }

  /** One request's first token: `workTokens` of prefill stood before it (its own included), took `ttftMs`. */
  observe(workTokens: number, ttftMs: number): void {
    if (!(workTokens > 0) || !(ttftMs > 0)) return; // a full cache hit or a zero-time clock says nothing
    this.work = this.work * this.decay + workTokens;
    this.time = this.time * this.decay + ttftMs;
  }

  /** Prompt tokens per ms. */
  get tokensPerMs(): number {
    return this.time > 0 ? this.work / this.time : this.priorTokensPerMs;
  }

  get learned(): boolean {
    return this.time > 0;
  }
}
