/**
 * The router queue (Dynamo's `--router-queue-threshold` and `--router-queue-policy`): when every worker
 * already has a prefill backlog, a new request waits here, in the router, instead of being bound to a
 * worker now. When a prefill ends (a first token) or a request ends, the router takes the next waiting
 * request and routes it then, to the worker that is actually free, with the KV events of what just
 * finished in its index. Systems analogy: late binding in a work-stealing scheduler, or a load balancer
 * that holds a request in its own queue rather than pushing it onto a backend's accept queue: the choice
 * of backend is made when one can serve it, not when it arrived.
 *
 *   arrival ─ some worker has room, nobody waits ─► route now
 *           └ every worker busy (or others wait) ─► park ─ prefill done / request ends ─► route (best first)
 *
 * Busy: a worker's prefill tokens this router has in flight there (routed, first token not yet out) are
 * above `threshold × max_num_batched_tokens` (one engine step's token budget). A worker that never
 * published its budget is never busy, as in Dynamo.
 *
 * Order among the waiting requests (`policy`):
 *   - `fcfs`: arrival order (Dynamo's default). No request is overtaken, so none starves.
 *   - `wspt`: fewest new tokens first (Smith's rule with equal weights): its prompt less the longest prefix
 *     any worker caches, computed when it parks. Minimises the mean wait of what is parked together, as
 *     shortest-job-first does; a long prompt can wait behind a stream of short ones.
 *
 * The queue holds thunks, not results: `dispatch` routes the request itself, so the booking (the request
 * counted in flight on its worker) happens before the queue checks for room again.
 */

/** Order of the requests waiting in the router queue. */
export type RouterQueuePolicy = 'fcfs' | 'wspt';

export const ROUTER_QUEUE_POLICIES: readonly RouterQueuePolicy[] = ['fcfs', 'wspt'];

export interface RouterQueueOptions {
  /**
   * `--router-queue-threshold`: a worker has room while the prefill tokens in flight there are at most
   * this many times its `max_num_batched_tokens` (0 = only a worker with no prefill backlog has room).
   */
  threshold: number;
  /** `--router-queue-policy` (default `fcfs`, Dynamo's). */
  policy?: RouterQueuePolicy;
}

/** What the queue needs from the router: whether some worker has room under `threshold` now. */
export interface RouterQueueHost {
  hasRoom(threshold: number): boolean;
}

interface Parked {
  requestId: string;
  /** Lower runs first: arrival order (fcfs) or new tokens (wspt). */
  key: number;
  /** Arrival order, the tie-break. */
  order: number;
  dispatch: () => void;
}

export class RouterQueue {
  readonly threshold: number;
  readonly policy: RouterQueuePolicy;
  /** Binary min-heap on (key, order). */
  private readonly heap: Parked[] = [];
  private arrivals = 0;
  private draining = false;
  private depthListener: ((depth: number) => void) | undefined;

  constructor(
    options: RouterQueueOptions,
    private readonly host: RouterQueueHost,
  ) {
    if (!(options.threshold >= 0) || !Number.isFinite(options.threshold)) {
      throw new RangeError(`router queue threshold must be a number ≥ 0, got ${options.threshold}`);
    }
    this.threshold = options.threshold;
    this.policy = options.policy ?? 'fcfs';
  }

  /** Requests waiting now. */
  get depth(): number {
    return this.heap.length;
  }

  /** `listener` hears the depth whenever it changes (the frontend's /metrics gauge). One listener. */
  onDepth(listener: ((depth: number) => void) | undefined): void {
    this.depthListener = listener;
  }

  /**
   * Run `dispatch` now when a worker has room and nobody waits; else park it until `drain` finds room.
   * `newTokens` (wspt's key) is asked for only when the request parks. Returns whether it ran now.
   */
  offer(requestId: string, newTokens: () => number, dispatch: () => void): boolean {
    const order = this.arrivals++;
    if (this.heap.length === 0 && this.host.hasRoom(this.threshold)) {
      dispatch();
      return true;
    }
    const key = this.policy === 'wspt' ? Math.max(1, newTokens()) : order;
    this.push({ requestId, key, order, dispatch });
    this.drain();
    return false;
  }

  /** Forget a waiting request (its client left, its deadline passed). Returns whether it was waiting. */
  cancel(requestId: string): boolean {
    const at = this.heap.findIndex((p) => p.requestId === requestId);
    if (at < 0) return false;
    const last = this.heap.pop()!;
    if (at < this.heap.length) {
      this.heap[at] = last;
      this.siftDown(at);
      this.siftUp(at);
    }
    this.depthListener?.(this.heap.length);
    return true;
  }

  /** Capacity may have freed: dispatch waiting requests, best first, while a worker has room. */
  drain(): void {
    if (this.draining) return; // a dispatch that ends a request synchronously re-enters here
    this.draining = true;
    try {
      while (this.heap.length > 0 && this.host.hasRoom(this.threshold)) this.pop().dispatch();
    } finally {
      this.draining = false;
    }
  }

  private push(entry: Parked): void {
    this.heap.push(entry);
    this.siftUp(this.heap.length - 1);
    this.depthListener?.(this.heap.length);
  }

  private pop(): Parked {
    const top = this.heap[0]!;
    const last = this.heap.pop()!;
    if (this.heap.length > 0) {
      this.heap[0] = last;
      this.siftDown(0);
    }
    this.depthListener?.(this.heap.length);
    return top;
  }

  private before(a: Parked, b: Parked): boolean {
    return a.key < b.key || (a.key === b.key && a.order < b.order);
  }

  private siftUp(at: number): void {
    const heap = this.heap;
    while (at > 0) {
      const parent = (at - 1) >> 1;
      if (!this.before(heap[at]!, heap[parent]!)) return;
      [heap[at], heap[parent]] = [heap[parent]!, heap[at]!];
      at = parent;
    }
  }

  private siftDown(at: number): void {
    const heap = this.heap;
    for (;;) {
      const left = 2 * at + 1;
      const right = left + 1;
      let best = at;
      if (left < heap.length && this.before(heap[left]!, heap[best]!)) best = left;
      if (right < heap.length && this.before(heap[right]!, heap[best]!)) best = right;
      if (best === at) return;
      [heap[at], heap[best]] = [heap[best]!, heap[at]!];
      at = best;
    }
  }
}
