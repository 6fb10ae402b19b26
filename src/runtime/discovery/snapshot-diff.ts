/**
 * Turns two snapshots of a prefix into the events between them, like `rsync --dry-run` for a key space.
 * Used by the file backend (it watches by polling) and by the etcd backend after a watch reconnect.
 * Snapshots map key → version, where a changed version means a new `put` (the raw JSON for etcd, or
 * inode + mtime for files, so rewriting the same value still counts as a put).
 */
import type { DiscoveryEvent } from './discovery.ts';

export interface SnapshotEntry {
  version: string;
  value: unknown;
}

export type Snapshot = Map<string, SnapshotEntry>;

/** Deletes first (in key order), then puts (in key order). */
export function diffSnapshots(before: Snapshot, after: Snapshot): DiscoveryEvent[] {
  const events: DiscoveryEvent[] = [];
  for (const key of [...before.keys()].sort()) {
    if (!after.has(key)) events.push({ type: 'delete', key });
  }
  for (const key of [...after.keys()].sort()) {
    const entry = after.get(key) as SnapshotEntry;
    if (before.get(key)?.version !== entry.version) events.push({ type: 'put', key, value: entry.value });
  }
  return events;
}

/** Apply events to a snapshot (keeping a mirror current between full re-reads). */
export function applyEvent(snapshot: Snapshot, event: DiscoveryEvent, version: string): void {
  if (event.type === 'delete') snapshot.delete(event.key);
  else snapshot.set(event.key, { version, value: event.value });
}

export function sortedEntries(snapshot: Snapshot): { key: string; value: unknown }[] {
  return [...snapshot.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([key, entry]) => ({ key, value: entry.value }));
}
