/**
 * Wire types between the router and workers beyond the event stream (docs/design-notes.md#kv-events): the KV
 * state dump a
 * router asks for when it joins late or sees a gap in a worker's event ids. Like a database replica asking
 * its primary for a base backup before tailing the log again.
 *
 * The worker answers with its cache as `stored` events (`KvCacheManager.dumpCachedBlocks()`, parents first)
 * plus the id of the last event those events already include, so the router knows where the log resumes.
 */
import { isKvCacheEvent, type KvCacheEvent } from './kv-events.ts';
import type { WorkerId } from './ids.ts';

/** Router → worker: "send me your whole KV cache state". */
export interface KvSnapshotRequest {
  workerId: WorkerId;
}

/** Worker → router: the cache as `stored` events, consistent as of event `lastEventId`. */
export interface KvSnapshot {
  workerId: WorkerId;
  /** Id of the last KV event reflected in `events` (0 before the first event). */
  lastEventId: number;
  events: KvCacheEvent[];
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function isKvSnapshotRequest(value: unknown): value is KvSnapshotRequest {
  return isRecord(value) && typeof value.workerId === 'string';
}

export function isKvSnapshot(value: unknown): value is KvSnapshot {
  return (
    isRecord(value) &&
    typeof value.workerId === 'string' &&
    Number.isSafeInteger(value.lastEventId) &&
    (value.lastEventId as number) >= 0 &&
    Array.isArray(value.events) &&
    value.events.every(isKvCacheEvent)
  );
}
