/**
 * Closed-loop load (`--concurrency N`): N simulated users, each sending its next request only when its
 * previous one has finished, as aiperf's concurrency mode and Dynamo's replay do. Timestamps are ignored;
 * the load adapts to the cluster's speed (a slow cluster gets fewer requests per second), like `wrk -c N`
 * against a web server instead of replaying its access log at the logged times.
 *
 * Sessions (records sharing a `session_id`, in timestamp order) stay with one user: turn k+1 is sent at
 * turn k's finish + its `delay` (think time). Records without a session are sessions of one turn. A user
 * whose session ended takes the next session in trace order at once.
 *
 *   user 0: s0.t1 ──finish──► +delay ──► s0.t2 ──finish──► s3.t1 ...
 *   user 1: s1.t1 ──finish──► s2.t1 ──finish──► +delay ──► s2.t2 ...
 */
import type { TraceRecord } from './trace.ts';

/** What the virtual-time loop pulls arrivals from: the next arrival time, and take it. */
export interface ArrivalQueue {
  /** Time (ms) of the next arrival, or undefined when none is pending now. */
  peek(): number | undefined;
  /** Remove the next arrival and return its trace index. */
  take(): number;
}

/** Timestamp replay: the trace's arrival times (ascending), in order. */
export class TimestampArrivals implements ArrivalQueue {
  private next = 0;

  constructor(private readonly times: readonly number[]) {}

  peek(): number | undefined {
    return this.times[this.next];
  }

  take(): number {
    return this.next++;
  }
}

interface Pending {
  atMs: number;
  index: number;
}

export class ClosedLoopArrivals implements ArrivalQueue {
  /** Each session's trace indices, turn order; sessions in order of their first turn. */
  private readonly sessions: number[][];
  private nextSession = 0;
  /** For a trace index: its session and its turn within it. */
  private readonly position: Array<{ session: number; turn: number }>;
  /** Arrivals scheduled and not yet taken, ascending (at most `concurrency` of them). */
  private readonly pending: Pending[] = [];

  constructor(
    private readonly trace: readonly TraceRecord[],
    concurrency: number,
    startMs = 0,
  ) {
    this.sessions = groupSessions(trace);
    this.position = new Array(trace.length);
    this.sessions.forEach((turns, session) => {
      turns.forEach((index, turn) => {
        this.position[index] = { session, turn };
      });
    });
    for (let u = 0; u < concurrency; u++) this.startNextSession(startMs);
  }

  peek(): number | undefined {
    return this.pending[0]?.atMs;
  }

  take(): number {
    return this.pending.shift()!.index;
  }

  /** Request `index` finished at `atMs`: its user sends the session's next turn, or starts a new session. */
  finished(index: number, atMs: number): void {
    const { session, turn } = this.position[index]!;
    const next = this.sessions[session]![turn + 1];
    if (next === undefined) this.startNextSession(atMs);
    else this.schedule(next, atMs + (this.trace[next]!.delayMs ?? 0));
  }

  private startNextSession(atMs: number): void {
    const session = this.sessions[this.nextSession++];
    if (session !== undefined) this.schedule(session[0]!, atMs);
  }

  private schedule(index: number, atMs: number): void {
    // After every arrival at the same time: ties keep scheduling order, so runs are deterministic.
    const item = { atMs, index };
    let i = this.pending.length;
    while (i > 0 && this.pending[i - 1]!.atMs > atMs) i--;
    this.pending.splice(i, 0, item);
  }
}

/** Trace indices grouped by `sessionId` (a record without one is its own session), by first appearance. */
export function groupSessions(trace: readonly TraceRecord[]): number[][] {
  const sessions: number[][] = [];
  const byId = new Map<string, number[]>();
  trace.forEach((r, index) => {
    if (r.sessionId === undefined) {
      sessions.push([index]);
      return;
    }
    let turns = byId.get(r.sessionId);
    if (turns === undefined) {
      byId.set(r.sessionId, (turns = []));
      sessions.push(turns);
    }
    turns.push(index);
  });
  return sessions;
}
