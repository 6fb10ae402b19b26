/**
 * The `Discovery` contract: a service registry with leases, like Consul/ZooKeeper sessions
 * (docs/design-notes.md#discovery).
 *
 * Each process holds ONE lease (TTL 10 s by default, kept alive every TTL/3). Everything it `put`s is
 * attached to that lease, so when the process dies its keys vanish within the TTL, and on a graceful
 * `close()` the lease is revoked and they vanish at once. The lease id (hex) is the process's instance id.
 * `watch` returns a snapshot and then every change after it, with no gap in between, so a reader can keep
 * an exact mirror of a prefix (the way a frontend mirrors the model cards).
 *
 * Three backends, one behaviour (checked by one conformance suite, conformance.ts):
 *   etcd    real etcd over its HTTP/JSON gateway: many machines
 *   file    a directory of JSON files, leases kept alive by touching a file: many processes, one machine
 *   memory  one process (embedded mode, unit tests)
 */
import type { InstanceId } from '../../protocols/discovery.ts';

export type DiscoveryBackend = 'etcd' | 'file' | 'memory';

export const DEFAULT_LEASE_TTL_SECONDS = 10;

/** Values are JSON: whatever JSON.stringify accepts, read back as JSON.parse gives it. */
export interface KeyValue {
  key: string;
  value: unknown;
}

export interface DiscoveryEvent {
  type: 'put' | 'delete';
  key: string;
  /** The new value (for `put` only). */
  value?: unknown;
}

export type DiscoveryEventHandler = (event: DiscoveryEvent) => void;

export interface DiscoveryWatch {
  /** Every key under the prefix when the watch started, sorted by key. */
  readonly initial: KeyValue[];
  close(): Promise<void>;
}

export interface Discovery {
  readonly backend: DiscoveryBackend;
  /** This process's lease id in hex: also its instance id (Dynamo's convention). */
  leaseId(): InstanceId;
  /** Create or replace `key`, attached to our lease. Throws LeaseLostError once the lease is gone. */
  put(key: string, value: unknown): Promise<void>;
  /** The value of one key, or undefined. */
  get(key: string): Promise<unknown | undefined>;
  /** Remove a key (anyone's). No error if it does not exist. */
  delete(key: string): Promise<void>;
  /** Every key under `prefix`, sorted by key. */
  list(prefix: string): Promise<KeyValue[]>;
  /**
   * Snapshot of `prefix` plus every later change, in order, with nothing missed in between (etcd: the watch
   * starts at the snapshot's revision + 1). Events are delivered after this promise resolves. A watch
   * survives backend outages: on reconnect it re-reads the prefix and reports the difference as events.
   */
  watch(prefix: string, onEvent: DiscoveryEventHandler): Promise<DiscoveryWatch>;
  /**
   * Called once if the lease is lost (expired while we could not reach the backend, or revoked by someone
   * else). Our keys are gone then (or will be): a worker re-registers with `renewLease` once the backend
   * answers, or exits non-zero with --exit-on-lease-loss (Dynamo shuts its runtime down). If the lease is
   * already lost, `cb` is called right away.
   */
  onLeaseLost(cb: (err: Error) => void): void;
  /**
   * After a loss, take a lease again (etcd keeps the old one if it still has it, e.g. restored by an etcd
   * restart) so `put` works again; the caller then puts its keys again (a worker re-registers). `leaseId()`
   * does not change: it is the process's instance id, named in its keys and events, and stays the first
   * lease's id even when a new lease now holds the keys. Callbacks given to `onLeaseLost` after this call
   * watch the new lease. No-op while the lease is held; throws DiscoveryUnavailableError while the backend
   * cannot be reached (retry later).
   */
  renewLease(): Promise<void>;
  /** Seconds our lease has left as the backend sees it (-1 if it no longer exists). */
  leaseTtlLeft(): Promise<number>;
  /** Graceful shutdown: stop watches and keepalives, revoke the lease (our keys disappear at once). */
  close(): Promise<void>;
}

/** Keepalive period for a TTL: a third of it, so two keepalives can be lost before the lease expires. */
export function keepAliveIntervalMs(ttlSeconds: number): number {
  return Math.max(100, Math.floor((ttlSeconds * 1000) / 3));
}

/** Serialize a value for storage; rejects what JSON cannot represent, naming the key. */
export function encodeValue(key: string, value: unknown): string {
  const text = JSON.stringify(value);
  if (text === undefined) throw new TypeError(`discovery value for ${key} is not JSON-serializable`);
  return text;
}
