/**
 * Discovery in a shared directory (Dynamo's file backend): several processes on one machine, no server.
 * Like pid files with heartbeats: each process owns a lease file and touches it every TTL/3; keys are
 * JSON files naming their lease (layout in file-store.ts). Watches re-scan the directory on fs.watch and
 * on a timer (lease deadlines) and diff snapshots, so they see other processes' changes and expiries alike.
 */
import { type FSWatcher, watch as watchDir } from 'node:fs';
import type { InstanceId } from '../../protocols/discovery.ts';
import { getLogger } from '../../util/logger.ts';
import {
  DEFAULT_LEASE_TTL_SECONDS,
  type Discovery,
  type DiscoveryEventHandler,
  type DiscoveryWatch,
  encodeValue,
  type KeyValue,
  keepAliveIntervalMs,
} from './discovery.ts';
import { DiscoveryError, DiscoveryUnavailableError } from './errors.ts';
import { EventQueue } from './event-queue.ts';
import { FileStore } from './file-store.ts';
import { LeaseLostSignal } from './lease-lost.ts';
import { randomInstanceId } from './memory-discovery.ts';
import { OpenWatches } from './open-watches.ts';
import { diffSnapshots, type Snapshot, sortedEntries } from './snapshot-diff.ts';

const log = getLogger('discovery');

export interface FileDiscoveryOptions {
  dir: string;
  ttlSeconds?: number;
  /**
   * How often watches re-read the directory when `fs.watch` is unavailable, and the shortest gap between
   * timed re-scans when it works (then they run at lease deadlines, at least once a second). Default 100 ms.
   */
  pollIntervalMs?: number;
}

/**
 * With `fs.watch` working, every key change wakes the watch at once; a timer is needed only for what it
 * cannot see: lease expiry (scheduled at the soonest deadline) and events it drops (a safety re-scan).
 */
const SAFETY_RESCAN_MS = 1000;

/**
 * One prefix watch: re-scan on an `fs.watch` nudge or a timer, emit the difference. One scan at a time.
 * Without `fs.watch` the timer runs every `pollIntervalMs`; with it, at the soonest lease deadline, at most
 * `SAFETY_RESCAN_MS` apart (re-scans every 100 ms were most of an idle frontend's CPU).
 */
class PollingWatch {
  private timer: NodeJS.Timeout | undefined;
  private fsWatcher: FSWatcher | undefined;
  private scanning = false;
  private rescan = false;
  private stopped = false;

  constructor(
    private readonly store: FileStore,
    private readonly prefix: string,
    private snapshot: Snapshot,
    private readonly queue: EventQueue,
    private readonly pollIntervalMs: number,
  ) {
    try {
      this.fsWatcher = watchDir(store.keysDir, { persistent: false }, () => this.poll());
      this.fsWatcher.on('error', () => {
        this.fsWatcher?.close();
        this.fsWatcher = undefined;
      });
    } catch {
      // fs.watch is an optimisation; polling alone is correct
    }
    this.schedule(0); // the first re-scan soon: the snapshot it starts from named no deadlines
  }

  /** The next timed re-scan, given the soonest lease deadline the last scan saw. */
  private schedule(earliestDeadline: number): void {
    clearTimeout(this.timer);
    if (this.stopped) return;
    const untilExpiry = earliestDeadline - Date.now();
    const delay = this.fsWatcher
      ? Math.max(this.pollIntervalMs, Math.min(SAFETY_RESCAN_MS, untilExpiry))
      : this.pollIntervalMs;
    this.timer = setTimeout(() => this.poll(), delay);
    this.timer.unref();
  }

  private poll(): void {
    if (this.stopped) return;
    if (this.scanning) {
      this.rescan = true;
      return;
    }
    this.scanning = true;
    const expiry = { earliest: Number.POSITIVE_INFINITY };
    this.store
      .scan(this.prefix, expiry)
      .then((next) => {
        if (this.stopped) return;
        for (const event of diffSnapshots(this.snapshot, next)) this.queue.push(event);
        this.snapshot = next;
      })
      .catch((err) => log.warn('file discovery scan failed; retrying', { dir: this.store.dir, error: err }))
      .finally(() => {
        this.scanning = false;
        this.schedule(expiry.earliest);
        if (this.rescan) {
          this.rescan = false;
          this.poll();
        }
      });
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.fsWatcher?.close();
    this.queue.close();
  }
}

export class FileDiscovery implements Discovery {
  readonly backend = 'file' as const;
  private signal = new LeaseLostSignal();
  /** The lease file our keys name now: `id` (the instance id) until `renewLease` takes a new one. */
  private lease: InstanceId;
  private readonly ownKeys = new Set<string>();
  private readonly watches = new OpenWatches();
  private keepAliveTimer: NodeJS.Timeout | undefined;
  private lastKeepAlive = Date.now();
  private closed = false;

  private constructor(
    private readonly store: FileStore,
    private readonly id: InstanceId,
    private readonly ttlSeconds: number,
    private readonly pollIntervalMs: number,
  ) {
    this.lease = id;
  }

  /** Create the directory if needed and take a lease in it. */
  static async open(opts: FileDiscoveryOptions): Promise<FileDiscovery> {
    const store = new FileStore(opts.dir);
    const ttlSeconds = opts.ttlSeconds ?? DEFAULT_LEASE_TTL_SECONDS;
    const id = randomInstanceId();
    try {
      await store.init();
      await store.createLease(id, ttlSeconds);
    } catch (err) {
      throw new DiscoveryUnavailableError(
        `Cannot use discovery directory ${opts.dir}: ${(err as Error).message}. Check that it is writable.`,
        { cause: err },
      );
    }
    const discovery = new FileDiscovery(store, id, ttlSeconds, opts.pollIntervalMs ?? 100);
    discovery.startKeepAlive();
    return discovery;
  }

  private startKeepAlive(): void {
    this.keepAliveTimer = setInterval(() => void this.keepAlive(), keepAliveIntervalMs(this.ttlSeconds));
    this.keepAliveTimer.unref();
  }

  private async keepAlive(): Promise<void> {
    if (this.closed || this.signal.lost) return;
    const sinceLast = Date.now() - this.lastKeepAlive;
    if (sinceLast > this.ttlSeconds * 1000) {
      // We stalled past our TTL: others may already have removed our keys.
      this.lose(
        `no keepalive for ${(sinceLast / 1000).toFixed(1)} s (TTL ${this.ttlSeconds} s); the lease expired`,
      );
      return;
    }
    try {
      await this.store.touchLease(this.lease);
      this.lastKeepAlive = Date.now();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        this.lose(`lease file ${this.store.leasePath(this.lease)} was removed (expired or revoked)`, err);
      } else {
        log.warn('file discovery keepalive failed; retrying', { error: err });
      }
    }
  }

  private lose(reason: string, cause?: unknown): void {
    clearInterval(this.keepAliveTimer);
    this.signal.fire(reason, cause);
    // Our keys are dead already (their lease is gone); remove them so nobody has to wait for a reaper.
    for (const key of this.ownKeys) void this.store.removeKeyIfOwned(key, this.lease).catch(() => {});
  }

  leaseId(): InstanceId {
    return this.id;
  }

  async put(key: string, value: unknown): Promise<void> {
    this.signal.throwIfLost();
    await this.store.writeKey(key, encodeValue(key, value), this.lease);
    this.ownKeys.add(key);
  }

  async get(key: string): Promise<unknown | undefined> {
    return this.store.read(key);
  }

  async delete(key: string): Promise<void> {
    await this.store.removeKey(key);
    this.ownKeys.delete(key);
  }

  async list(prefix: string): Promise<KeyValue[]> {
    return sortedEntries(await this.store.scan(prefix));
  }

  async watch(prefix: string, onEvent: DiscoveryEventHandler): Promise<DiscoveryWatch> {
    const snapshot = await this.store.scan(prefix);
    const poller = new PollingWatch(
      this.store,
      prefix,
      snapshot,
      new EventQueue(onEvent),
      this.pollIntervalMs,
    );
    return this.watches.track(sortedEntries(snapshot), () => poller.stop());
  }

  onLeaseLost(cb: (err: Error) => void): void {
    this.signal.onLost(cb);
  }

  async renewLease(): Promise<void> {
    if (this.closed) throw new DiscoveryError('discovery is closed; cannot renew its lease');
    if (!this.signal.lost) return;
    const lease = randomInstanceId();
    await this.store.createLease(lease, this.ttlSeconds);
    this.lease = lease;
    this.ownKeys.clear();
    this.signal = new LeaseLostSignal();
    this.lastKeepAlive = Date.now();
    this.startKeepAlive();
  }

  async leaseTtlLeft(): Promise<number> {
    return this.store.leaseTtlLeft(this.lease);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.keepAliveTimer);
    this.watches.stopAll();
    // Keys first, then the lease: a reader never sees our keys without their lease.
    await Promise.all([...this.ownKeys].map((key) => this.store.removeKeyIfOwned(key, this.lease)));
    await this.store.removeLease(this.lease);
  }
}
