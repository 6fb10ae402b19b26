/**
 * In-process discovery: a Map plus leases and prefix watchers, like an embedded etcd. Several clients (a
 * frontend and a worker in one process, or a test's "processes") share one `MemoryDiscoveryStore`, each
 * with its own lease. Leases never expire on their own here (the process is alive by definition);
 * `store.revokeLease(id)` simulates a lost lease for tests.
 */
import { randomBytes } from 'node:crypto';
import type { InstanceId } from '../../protocols/discovery.ts';
import { instanceIdFromLease } from '../names.ts';
import {
  DEFAULT_LEASE_TTL_SECONDS,
  type Discovery,
  type DiscoveryEvent,
  type DiscoveryEventHandler,
  type DiscoveryWatch,
  encodeValue,
  type KeyValue,
} from './discovery.ts';
import { DiscoveryError, LeaseLostError } from './errors.ts';
import { EventQueue } from './event-queue.ts';
import { LeaseLostSignal } from './lease-lost.ts';
import { OpenWatches } from './open-watches.ts';

interface StoredEntry {
  json: string;
  lease: InstanceId;
}

interface Watcher {
  prefix: string;
  queue: EventQueue;
}

/** A random positive 63-bit id in hex (etcd's lease ids are positive int64s). */
export function randomInstanceId(): InstanceId {
  const bytes = randomBytes(8);
  bytes[0] = (bytes[0] as number) & 0x7f;
  const id = bytes.readBigUInt64BE();
  return id === 0n ? randomInstanceId() : instanceIdFromLease(id);
}

export class MemoryDiscoveryStore {
  private readonly entries = new Map<string, StoredEntry>();
  private readonly leases = new Map<InstanceId, LeaseLostSignal>();
  private readonly watchers = new Set<Watcher>();

  grantLease(signal: LeaseLostSignal): InstanceId {
    const id = randomInstanceId();
    this.leases.set(id, signal);
    return id;
  }

  hasLease(id: InstanceId): boolean {
    return this.leases.has(id);
  }

  /** End a lease: its keys are deleted. `asLost` tells its holder (a simulated expiry) instead of a close. */
  revokeLease(id: InstanceId, asLost = true): void {
    const signal = this.leases.get(id);
    if (!signal) return;
    this.leases.delete(id);
    for (const [key, entry] of [...this.entries]) if (entry.lease === id) this.remove(key);
    if (asLost) signal.fire(`lease ${id} was revoked`);
  }

  put(lease: InstanceId, key: string, json: string): void {
    if (!this.leases.has(lease))
      throw new LeaseLostError(`lease ${lease} no longer exists; cannot put ${key}`);
    this.entries.set(key, { json, lease });
    this.notify({ type: 'put', key, value: JSON.parse(json) });
  }

  get(key: string): string | undefined {
    return this.entries.get(key)?.json;
  }

  remove(key: string): void {
    if (this.entries.delete(key)) this.notify({ type: 'delete', key });
  }

  list(prefix: string): KeyValue[] {
    return [...this.entries]
      .filter(([key]) => key.startsWith(prefix))
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([key, entry]) => ({ key, value: JSON.parse(entry.json) }));
  }

  /** Snapshot and subscription in one synchronous step: nothing can slip in between. */
  watch(prefix: string, handler: DiscoveryEventHandler): { initial: KeyValue[]; stop: () => void } {
    const watcher: Watcher = { prefix, queue: new EventQueue(handler) };
    this.watchers.add(watcher);
    return {
      initial: this.list(prefix),
      stop: () => {
        watcher.queue.close();
        this.watchers.delete(watcher);
      },
    };
  }

  private notify(event: DiscoveryEvent): void {
    for (const watcher of this.watchers) if (event.key.startsWith(watcher.prefix)) watcher.queue.push(event);
  }
}

/** The store shared by every memory-backed client in this process that does not bring its own. */
export const processDiscoveryStore = new MemoryDiscoveryStore();

export class MemoryDiscovery implements Discovery {
  readonly backend = 'memory' as const;
  private signal = new LeaseLostSignal();
  /** The instance id: the first lease's id. */
  private readonly id: InstanceId;
  /** The lease our keys hang off now (a new one after `renewLease`). */
  private lease: InstanceId;
  private readonly watches = new OpenWatches();
  private closed = false;

  constructor(
    private readonly store: MemoryDiscoveryStore = processDiscoveryStore,
    private readonly ttlSeconds = DEFAULT_LEASE_TTL_SECONDS,
  ) {
    this.id = store.grantLease(this.signal);
    this.lease = this.id;
  }

  leaseId(): InstanceId {
    return this.id;
  }

  async put(key: string, value: unknown): Promise<void> {
    this.signal.throwIfLost();
    this.store.put(this.lease, key, encodeValue(key, value));
  }

  async get(key: string): Promise<unknown | undefined> {
    const json = this.store.get(key);
    return json === undefined ? undefined : JSON.parse(json);
  }

  async delete(key: string): Promise<void> {
    this.store.remove(key);
  }

  async list(prefix: string): Promise<KeyValue[]> {
    return this.store.list(prefix);
  }

  async watch(prefix: string, onEvent: DiscoveryEventHandler): Promise<DiscoveryWatch> {
    const { initial, stop } = this.store.watch(prefix, onEvent);
    return this.watches.track(initial, stop);
  }

  onLeaseLost(cb: (err: Error) => void): void {
    this.signal.onLost(cb);
  }

  async renewLease(): Promise<void> {
    if (this.closed) throw new DiscoveryError('discovery is closed; cannot renew its lease');
    if (!this.signal.lost) return;
    this.signal = new LeaseLostSignal();
    this.lease = this.store.grantLease(this.signal);
  }

  async leaseTtlLeft(): Promise<number> {
    return this.store.hasLease(this.lease) ? this.ttlSeconds : -1;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.watches.stopAll();
    this.store.revokeLease(this.lease, false);
  }
}
