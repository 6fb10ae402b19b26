/**
 * The discrete-event loop of a replay: a shared `VirtualClock`, the trace's arrivals, and N simulated
 * engines that each sleep on that clock for every step. Time jumps straight to the next event (an arrival
 * or the end of some engine's step), so 17 minutes of traffic replay in seconds and the same inputs give the
 * same run. Like a network simulator (ns-3): nothing sleeps for real, events fire in time order.
 *
 * The one subtlety is *when* to jump. After a step ends, the engine's loop and the request streams run a few
 * more microtasks and a `setImmediate` before the engine sleeps again for its next step; jumping earlier
 * would start that next step late. So before every jump the loop waits until the system is quiescent: every
 * engine is either asleep in a step or has no work. (`VirtualClock.runUntil` jumps after one event-loop turn,
 * which is right for one engine but drifts with several.)
 *
 *   arrivals ──► onArrival(i)  (route + start the request on its engine)
 *   engine k ──► clock.sleep(stepMs) ──► timer fires at now + stepMs ──► outputs stream, next step
 */
import { type Clock, VirtualClock } from '../engine/index.ts';
import { type ArrivalQueue, TimestampArrivals } from './closed-loop.ts';
import { ReplayStuckError } from './errors.ts';

/** Event-loop turns allowed without reaching quiescence before the replay is declared stuck. */
const MAX_BUSY_TURNS = 100_000;

/** A worker's view of the shared clock that knows whether the worker is asleep in a step. */
class TrackedClock implements Clock {
  sleeping = 0;

  constructor(private readonly base: VirtualClock) {}

  now(): number {
    return this.base.now();
  }

  async sleep(ms: number): Promise<void> {
    this.sleeping++;
    try {
      await this.base.sleep(ms);
    } finally {
      this.sleeping--;
    }
  }
}

interface Member {
  clock: TrackedClock;
  /**
   * True while the worker's step loop runs (it must then be asleep in a step to be quiescent). An engine
   * whose loop is parked (nothing schedulable until memory frees) has no work: a timer elsewhere wakes it.
   */
  hasWork: () => boolean;
}

export interface LoopRun {
  /**
   * Arrival times in ms, ascending, or a queue that can grow while the run goes (closed loop: a request's
   * end schedules the next; `closed-loop.ts`).
   */
  arrivals: readonly number[] | ArrivalQueue;
  /** Called once per arrival, at its time, in order. */
  onArrival: (index: number) => void;
  /** True when every request has finished. */
  done: () => boolean;
  /** Called at every quiescent point; throw to stop the run (e.g. a request failed unexpectedly). */
  check?: () => void;
}

export class VirtualTimeLoop {
  readonly clock = new VirtualClock();
  private readonly members: Member[] = [];

  /** A clock for one engine; `hasWork` tells the loop whether that engine's step loop is running. */
  addWorker(hasWork: () => boolean): Clock {
    const clock = new TrackedClock(this.clock);
    this.members.push({ clock, hasWork });
    return clock;
  }

  now(): number {
    return this.clock.now();
  }

  /** Drive arrivals and engine steps until every request is done. */
  async run(run: LoopRun): Promise<void> {
    const arrivals = Array.isArray(run.arrivals)
      ? new TimestampArrivals(run.arrivals)
      : (run.arrivals as ArrivalQueue);
    let busyTurns = 0;
    for (;;) {
      await new Promise<void>((resolve) => setImmediate(resolve));
      if (!this.quiescent()) {
        if (++busyTurns > MAX_BUSY_TURNS) throw this.stuck('an engine has work but never sleeps for a step');
        continue;
      }
      busyTurns = 0;
      run.check?.();
      const due = this.clock.nextDue();
      const arrival = arrivals.peek();
      if (due !== undefined && (arrival === undefined || due <= arrival)) {
        this.clock.runNext(); // step ends first when tied with an arrival: its outputs are older
      } else if (arrival !== undefined) {
        this.clock.advanceTo(arrival);
        for (let at = arrivals.peek(); at !== undefined && at <= this.clock.now(); at = arrivals.peek()) {
          run.onArrival(arrivals.take());
        }
      } else if (run.done()) {
        return;
      } else {
        throw this.stuck('no step is running and no request is left to arrive');
      }
    }
  }

  /** Every engine is asleep in a step or idle: nothing more will happen until time moves. */
  private quiescent(): boolean {
    return this.members.every((m) => m.clock.sleeping > 0 || !m.hasWork());
  }

  private stuck(why: string): ReplayStuckError {
    const busy = this.members.filter((m) => m.hasWork()).length;
    return new ReplayStuckError(
      `replay stuck at t=${this.clock.now().toFixed(1)} ms: ${why} (${busy} of ${this.members.length} ` +
        'workers are stepping); this is a bug in the engine loop or the replay driver, or requests that can ' +
        'never fit in the KV cache',
    );
  }
}
