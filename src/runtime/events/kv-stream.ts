/**
 * The JetStream stream that keeps one component's KV events: its name, its limits, and "create it if it
 * is not there yet" (both publishers and consumers call it, whoever comes first). Like a Kafka topic
 * with a retention policy: file-backed, one subject, oldest events dropped when a limit is hit.
 */
import {
  DiscardPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  type JetStreamManager,
  RetentionPolicy,
  StorageType,
} from '@nats-io/jetstream';
import { nanos } from '@nats-io/transport-node';
import { scopeSubject } from './delivery.ts';
import type { ComponentScope } from './event-bus.ts';

export interface KvStreamLimits {
  /** Events older than this are dropped. Default 24 h. */
  maxAgeMs: number;
  /** Oldest events are dropped past this many bytes on disk. Default 256 MiB (~1M stored events). */
  maxBytes: number;
  /** A publish retried within this window is recognised as a duplicate. Default 2 min. */
  duplicateWindowMs: number;
}

export const DEFAULT_KV_STREAM_LIMITS: KvStreamLimits = {
  maxAgeMs: 24 * 3600 * 1000,
  maxBytes: 256 * 1024 * 1024,
  duplicateWindowMs: 2 * 60 * 1000,
};

/** `DYN_{namespace}_{component}_KV`. */
export function kvStreamName(scope: ComponentScope): string {
  scopeSubject(scope, 'kv-events'); // validates the names
  return `DYN_${scope.namespace}_${scope.component}_KV`;
}

/** Create the component's KV stream unless it exists (an existing one is used as is, limits included). */
export async function ensureKvStream(
  jsm: JetStreamManager,
  scope: ComponentScope,
  limits: KvStreamLimits = DEFAULT_KV_STREAM_LIMITS,
): Promise<string> {
  const name = kvStreamName(scope);
  try {
    await jsm.streams.info(name);
    return name;
  } catch (err) {
    if (!isStreamNotFound(err)) throw err;
  }
  try {
    await jsm.streams.add({
      name,
      subjects: [scopeSubject(scope, 'kv-events')],
      storage: StorageType.File,
      retention: RetentionPolicy.Limits,
      discard: DiscardPolicy.Old,
      max_age: nanos(limits.maxAgeMs),
      max_bytes: limits.maxBytes,
      max_msg_size: 1024 * 1024,
      duplicate_window: nanos(limits.duplicateWindowMs),
      num_replicas: 1,
    });
  } catch (err) {
    // Another process created it between our info and add: fine if it exists now.
    await jsm.streams.info(name).catch(() => {
      throw err;
    });
  }
  return name;
}

function isStreamNotFound(err: unknown): boolean {
  return err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamNotFound;
}
