/**
 * A stack of cleanups, released newest first: our small stand-in for TC39's `AsyncDisposableStack`, which
 * Node 20 does not ship. Like an init system's unit dependencies run backwards at shutdown, or Go's
 * `defer`: whatever is taken registers how to give it back the moment it is taken, so a failure half-way
 * through a start releases exactly what was taken, and a stop releases everything in the reverse order.
 * A registered cleanup IS ownership: nothing else records who must close what.
 *
 *   defer(close engine)   defer(stop server)   defer(unregister)      taken in this order
 *   disposeAll():  unregister ─► stop server ─► close engine         released in the reverse one
 *
 * One failing cleanup never stops the others: failures are collected and returned, in release order.
 */

export type Cleanup = () => Promise<unknown> | unknown;

/** A cleanup that threw (or rejected) during `disposeAll`. */
export interface CleanupFailure {
  /** What the cleanup releases, as given to `defer`/`adopt` (e.g. "close engine"). */
  name: string;
  error: unknown;
}

interface Entry {
  name: string;
  release: Cleanup;
}

export class CleanupStack {
  private readonly entries: Entry[] = [];

  /** Cleanups registered and not yet run. */
  get size(): number {
    return this.entries.length;
  }

  /** Register `release` to run at `disposeAll`, before every cleanup registered earlier. */
  defer(release: Cleanup, name: string): void {
    this.entries.push({ name, release });
  }

  /** Take ownership of `value`: `dispose(value)` runs at `disposeAll`. Returns `value`, for one-line use. */
  adopt<T>(value: T, dispose: (value: T) => Promise<unknown> | unknown, name: string): T {
    this.defer(() => dispose(value), name);
    return value;
  }

  /**
   * Run every cleanup, newest first, each once, awaiting each before the next (a later part may still be
   * using an earlier one). Failures are collected, never thrown half-way. The stack is empty afterwards,
   * so a second call releases nothing twice.
   */
  async disposeAll(): Promise<CleanupFailure[]> {
    const failures: CleanupFailure[] = [];
    for (let entry = this.entries.pop(); entry !== undefined; entry = this.entries.pop()) {
      try {
        await entry.release();
      } catch (error) {
        failures.push({ name: entry.name, error });
      }
    }
    return failures;
  }
}
