/**
 * Stop strings over a stream of text deltas. Like a protocol framer scanning a TCP byte stream for a
 * delimiter that may be split across reads: text that could be the start of a stop string is held back
 * until the next delta settles it, and the stop string itself is never emitted.
 *
 *   push("Hello, wor")  → "Hello, "   (holds "wor": it could begin "world")   with stop = ["world"]
 *   push("ld!")         → ""  stopped (the stop string and everything after it are dropped)
 */

export interface StopMatch {
  /** Text that is safe to send now. */
  text: string;
  /** True once a stop string appeared: the caller ends the request with finish_reason "stop". */
  stopped: boolean;
}

export class StopStringMatcher {
  private held = '';
  private stopped = false;

  constructor(private readonly stops: readonly string[]) {}

  /** Feed the next delta; returns what may be emitted. After a stop, every later push returns "". */
  push(delta: string): StopMatch {
    if (this.stopped) return { text: '', stopped: true };
    const buffer = this.held + delta;
    const stopAt = this.earliestStop(buffer);
    if (stopAt >= 0) {
      this.stopped = true;
      this.held = '';
      return { text: buffer.slice(0, stopAt), stopped: true };
    }
    const keep = this.partialStopLength(buffer);
    this.held = buffer.slice(buffer.length - keep);
    return { text: buffer.slice(0, buffer.length - keep), stopped: false };
  }

  /** End of stream: held text turned out not to be a stop string, so release it. */
  flush(): string {
    const rest = this.stopped ? '' : this.held;
    this.held = '';
    return rest;
  }

  private earliestStop(buffer: string): number {
    let earliest = -1;
    for (const stop of this.stops) {
      const at = buffer.indexOf(stop);
      if (at >= 0 && (earliest < 0 || at < earliest)) earliest = at;
    }
    return earliest;
  }

  /** Length of the longest buffer suffix that is a proper prefix of some stop string. */
  private partialStopLength(buffer: string): number {
    let longest = 0;
    for (const stop of this.stops) {
      const max = Math.min(stop.length - 1, buffer.length);
      for (let len = max; len > longest; len--) {
        if (buffer.endsWith(stop.slice(0, len))) {
          longest = len;
          break;
        }
      }
    }
    return longest;
  }
}
