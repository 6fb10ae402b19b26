/**
 * Time as an injected dependency, like a test double for the system clock: the real engine measures step
 * times with `realClock`, while the mocker can sleep on a `VirtualClock` so a trace replay runs hours of
 * simulated traffic in seconds, deterministically.
 */
export interface Clock {
  /** Milliseconds since an arbitrary origin. */
  now(): number;
  /** Resolve after `ms` milliseconds of this clock's time. */
  sleep(ms: number): Promise<void>;
}

export const realClock: Clock = {
  now: () => performance.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

interface Timer {
  at: number;
  seq: number;
  resolve: () => void;
}

/**
 * Time moves only when the owner says so. `sleep` registers a timer; `advance(ms)` or `runNext()` fires the
 * timers that come due, in time order (ties in registration order).
 */
export class VirtualClock implements Clock {
  private time: number;
  private timers: Timer[] = [];
  private nextSeq = 0;

  constructor(startMs = 0) {
    this.time = startMs;
  }

  now(): number {
    return this.time;
  }

  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      this.timers.push({ at: this.time + Math.max(0, ms), seq: this.nextSeq++, resolve });
      this.timers.sort((a, b) => a.at - b.at || a.seq - b.seq);
    });
  }

  /** Number of sleepers waiting. */
  get pending(): number {
    return this.timers.length;
  }

  /** Time of the earliest timer, or undefined when none. */
  nextDue(): number | undefined {
    return this.timers[0]?.at;
  }

  /** Move time forward by `ms`, firing every timer due by then. */
  advance(ms: number): void {
    this.advanceTo(this.time + ms);
  }

  advanceTo(targetMs: number): void {
    while (this.timers.length > 0 && this.timers[0]!.at <= targetMs) {
      const timer = this.timers.shift()!;
      this.time = Math.max(this.time, timer.at);
      timer.resolve();
    }
    this.time = Math.max(this.time, targetMs);
  }

  /** Jump to the earliest timer and fire it (and any due at the same time). False when none waits. */
  runNext(): boolean {
    const due = this.nextDue();
    if (due === undefined) return false;
    this.advanceTo(due);
    return true;
  }

  /**
   * Drive simulated time until `work` settles: let the event loop run everything runnable, then jump to
   * the next timer, and repeat. Returns what `work` resolves to.
   */
  async runUntil<T>(work: Promise<T>): Promise<T> {
    let settled = false;
    const tracked = work.finally(() => {
      settled = true;
    });
    tracked.catch(() => {}); // reported by the final await, not as an unhandled rejection
    while (!settled) {
      await new Promise<void>((resolve) => setImmediate(resolve));
      if (!settled) this.runNext();
    }
    return tracked;
  }
}
