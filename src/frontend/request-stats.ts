/**
 * Counters for generation requests, reported by GET /health. Like an nginx stub_status page: how many
 * requests came in, how many are in flight, how they ended. Also lets `close()` wait for in-flight work.
 */
export type RequestEnd = 'ok' | 'client_error' | 'server_error' | 'cancelled';

export interface RequestCounts {
  total: number;
  in_flight: number;
  ok: number;
  client_error: number;
  server_error: number;
  cancelled: number;
}

export class RequestStats {
  private readonly counts: RequestCounts = {
    total: 0,
    in_flight: 0,
    ok: 0,
    client_error: 0,
    server_error: 0,
    cancelled: 0,
  };
  private idleWaiters: (() => void)[] = [];

  begin(): void {
    this.counts.total++;
    this.counts.in_flight++;
  }

  end(how: RequestEnd): void {
    this.counts.in_flight--;
    this.counts[how]++;
    if (this.counts.in_flight === 0) {
      for (const wake of this.idleWaiters) wake();
      this.idleWaiters = [];
    }
  }

  snapshot(): RequestCounts {
    return { ...this.counts };
  }

  /** Resolves once no request is in flight. */
  idle(): Promise<void> {
    if (this.counts.in_flight === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }
}
