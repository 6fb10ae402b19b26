/**
 * The prefix watches one discovery client has open, so that `close()` can stop them all: like a server's
 * table of open connections, closed together at shutdown. Each backend brings its own watch (an etcd
 * stream, a directory poller, an in-memory listener); this is only the bookkeeping they share.
 */
import type { DiscoveryWatch, KeyValue } from './discovery.ts';

export class OpenWatches {
  private readonly stops = new Set<() => void>();

  /** Register a running watch; the handle's `close()` stops it and forgets it. */
  track(initial: KeyValue[], stop: () => void): DiscoveryWatch {
    this.stops.add(stop);
    return {
      initial,
      close: async () => {
        stop();
        this.stops.delete(stop);
      },
    };
  }

  /** Stop every watch still open (the client is closing). */
  stopAll(): void {
    for (const stop of this.stops) stop();
    this.stops.clear();
  }
}
