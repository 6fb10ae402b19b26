/**
 * The KV indexer: the router's replica of every worker's prefix cache, built only from KV events
 * (docs/design-notes.md#kv-events, #kv-index). Storage is `BlockIndex` (a radix tree as a hash → worker-set
 * table); this file tails
 * each worker's event log in order.
 *
 * Systems analogy: a read replica tailing a primary's replication log. Every event carries an id that grows
 * by one per worker, like a log sequence number:
 *   - id ≤ last applied        → a duplicate or a late retransmit: ignored;
 *   - id = last + 1            → applied;
 *   - id > last + 1 (a gap)    → the replica missed something: it asks for a base backup
 *                                (`requestSnapshot(workerId)`), buffers what arrives meanwhile, and when the
 *                                snapshot comes, rebuilds that worker's entries and replays the buffer.
 * A worker the router meets mid-stream (first event id > 1) is just a gap from 0. Without a
 * `requestSnapshot` callback a gap is logged and the event applied anyway (best effort).
 */
import type { SequenceHash, WorkerId } from '../protocols/ids.ts';
import type { KvCacheEvent, KvCacheEventData } from '../protocols/kv-events.ts';
import { getLogger } from '../util/logger.ts';
import { BlockIndex } from './block-index.ts';
import { holdsWire, removeWire, storeWire } from './block-index-wire.ts';

const log = getLogger('router');

export interface KvIndexerOptions {
  /** Ask `workerId` for a full dump; answer later with `applySnapshot`. Called once per gap. */
  requestSnapshot?: (workerId: WorkerId) => void;
  /** Events kept per worker while a snapshot is awaited; past this the buffer is dropped (default 10 000). */
  maxBufferedEvents?: number;
}

/** What `applyEvent` did with an event. */
export type EventOutcome = 'applied' | 'duplicate' | 'buffered' | 'gap-applied';

export interface KvIndexerStats {
  blocks: number;
  workers: number;
  eventsApplied: number;
  duplicates: number;
  gaps: number;
  snapshotsApplied: number;
  /** Snapshots asked for without a gap (`resync`: a late join, a reconnect to the bus). */
  resyncs: number;
  /** `stored` events whose parent block the index did not know (inserted anyway). */
  orphanStores: number;
}

interface EventLog {
  lastEventId: number;
  awaitingSnapshot: boolean;
  /** Events that arrived while awaiting a snapshot, replayed after it. */
  buffered: KvCacheEvent[];
  /** The buffer overflowed: the awaited snapshot is already too old, ask again after applying it. */
  overflowed: boolean;
}

export class KvIndexer {
  readonly blocks = new BlockIndex();
  /** Reused list of a `stored` event's hashes (no array per event on the hot path). */
  private readonly wireScratch: string[] = [];
  private readonly logs = new Map<WorkerId, EventLog>();
  private readonly requestSnapshot: ((workerId: WorkerId) => void) | undefined;
  private readonly maxBuffered: number;
  private readonly counters = {
    eventsApplied: 0,
    duplicates: 0,
    gaps: 0,
    snapshotsApplied: 0,
    resyncs: 0,
    orphanStores: 0,
  };

  constructor(options: KvIndexerOptions = {}) {
    this.requestSnapshot = options.requestSnapshot;
    this.maxBuffered = options.maxBufferedEvents ?? 10_000;
  }

  /** Apply one event from `workerId`'s log, in order (see the module comment for gaps and duplicates). */
  applyEvent(workerId: WorkerId, event: KvCacheEvent): EventOutcome {
    const eventLog = this.eventLog(workerId);
    if (event.eventId <= eventLog.lastEventId) {
      this.counters.duplicates++;
      return 'duplicate';
    }
    if (eventLog.awaitingSnapshot) return this.buffer(workerId, eventLog, event);
    if (event.eventId > eventLog.lastEventId + 1) {
      this.counters.gaps++;
      if (this.requestSnapshot !== undefined) {
        log.info('KV event gap: requesting a snapshot', {
          workerId,
          lastEventId: eventLog.lastEventId,
          eventId: event.eventId,
        });
        eventLog.awaitingSnapshot = true;
        this.buffer(workerId, eventLog, event);
        this.requestSnapshot(workerId);
        return 'buffered';
      }
      log.warn('KV event gap and no snapshot source: index may be stale for this worker', {
        workerId,
        lastEventId: eventLog.lastEventId,
        eventId: event.eventId,
      });
      this.applyData(workerId, event.data);
      eventLog.lastEventId = event.eventId;
      return 'gap-applied';
    }
    this.applyData(workerId, event.data);
    eventLog.lastEventId = event.eventId;
    return 'applied';
  }

  /**
   * Replace everything known about `workerId` with a dump (`stored` events, parents first) that reflects
   * its log up to `lastEventId`, then replay events buffered since the gap.
   */
  applySnapshot(workerId: WorkerId, lastEventId: number, events: readonly KvCacheEvent[]): void {
    const eventLog = this.eventLog(workerId);
    const buffered = eventLog.buffered;
    const overflowed = eventLog.overflowed;
    this.blocks.clearWorker(workerId);
    for (const event of events) this.applyData(workerId, event.data);
    Object.assign(eventLog, { lastEventId, awaitingSnapshot: false, buffered: [], overflowed: false });
    this.counters.snapshotsApplied++;
    log.info('KV snapshot applied', {
      workerId,
      lastEventId,
      blocks: this.blocks.workerBlockCount(workerId),
    });
    if (overflowed && this.requestSnapshot !== undefined) {
      eventLog.awaitingSnapshot = true;
      this.requestSnapshot(workerId);
      return;
    }
    for (const event of buffered.sort((a, b) => a.eventId - b.eventId)) this.applyEvent(workerId, event);
  }

  /**
   * Ask for a snapshot of `workerId` now, without waiting for a gap: a router that joins late (it tails
   * the log from "now", not from the start) or that was cut off from the bus (the events of the outage may
   * come late or never). Events that arrive meanwhile are buffered and replayed after it, as on a gap.
   * Returns false when a snapshot is already awaited or there is no snapshot source.
   */
  resync(workerId: WorkerId): boolean {
    const eventLog = this.eventLog(workerId);
    if (eventLog.awaitingSnapshot || this.requestSnapshot === undefined) return false;
    eventLog.awaitingSnapshot = true;
    this.counters.resyncs++;
    this.requestSnapshot(workerId);
    return true;
  }

  /**
   * The awaited snapshot of `workerId` cannot be had (the worker does not answer): apply what was buffered
   * as best effort instead of holding it forever; the next gap asks again.
   */
  abandonSnapshot(workerId: WorkerId): void {
    const eventLog = this.logs.get(workerId);
    if (eventLog === undefined || !eventLog.awaitingSnapshot) return;
    const buffered = eventLog.buffered.sort((a, b) => a.eventId - b.eventId);
    Object.assign(eventLog, { awaitingSnapshot: false, buffered: [], overflowed: false });
    log.warn('KV snapshot abandoned: applying buffered events as they are', {
      workerId,
      buffered: buffered.length,
    });
    for (const event of buffered) {
      if (event.eventId <= eventLog.lastEventId) continue;
      this.applyData(workerId, event.data);
      eventLog.lastEventId = event.eventId;
    }
  }

  /** Per-worker count of leading `hashes` cached (workers with none are absent). */
  findMatches(hashes: readonly SequenceHash[]): Map<WorkerId, number> {
    return this.blocks.findMatches(hashes);
  }

  /** Forget a worker entirely: its blocks and its log position (discovery said it is gone). */
  removeWorker(workerId: WorkerId): void {
    this.blocks.removeWorker(workerId);
    this.logs.delete(workerId);
  }

  workerBlockCount(workerId: WorkerId): number {
    return this.blocks.workerBlockCount(workerId);
  }

  lastEventId(workerId: WorkerId): number {
    return this.logs.get(workerId)?.lastEventId ?? 0;
  }

  isAwaitingSnapshot(workerId: WorkerId): boolean {
    return this.logs.get(workerId)?.awaitingSnapshot ?? false;
  }

  stats(): KvIndexerStats {
    return { blocks: this.blocks.numBlocks, workers: this.blocks.workers.length, ...this.counters };
  }

  private applyData(workerId: WorkerId, data: KvCacheEventData): void {
    this.counters.eventsApplied++;
    switch (data.type) {
      case 'stored': {
        // An unknown parent is tolerated: eviction and store can race across the bus. The block is
        // inserted anyway; lookups reach it only once its parent is known again.
        if (data.parentHash !== null && !holdsWire(this.blocks, workerId, data.parentHash)) {
          this.counters.orphanStores++;
        }
        const hashes = this.wireScratch;
        hashes.length = 0;
        for (const block of data.blocks) hashes.push(block.blockHash);
        storeWire(this.blocks, workerId, hashes);
        return;
      }
      case 'removed':
        removeWire(this.blocks, workerId, data.blockHashes);
        return;
      case 'cleared':
        this.blocks.clearWorker(workerId);
        return;
    }
  }

  private buffer(workerId: WorkerId, eventLog: EventLog, event: KvCacheEvent): 'buffered' {
    if (eventLog.buffered.length >= this.maxBuffered) {
      if (!eventLog.overflowed) log.warn('KV event buffer full while awaiting a snapshot', { workerId });
      eventLog.buffered = [];
      eventLog.overflowed = true;
    }
    eventLog.buffered.push(event);
    return 'buffered';
  }

  private eventLog(workerId: WorkerId): EventLog {
    let eventLog = this.logs.get(workerId);
    if (eventLog === undefined) {
      eventLog = { lastEventId: 0, awaitingSnapshot: false, buffered: [], overflowed: false };
      this.logs.set(workerId, eventLog);
      this.blocks.ensureWorker(workerId);
    }
    return eventLog;
  }
}
