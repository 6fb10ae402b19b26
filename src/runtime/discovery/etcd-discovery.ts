/**
 * Discovery on etcd (Dynamo's default backend), over the HTTP/JSON gateway client in etcd-gateway.ts.
 * Like a Consul agent session: one lease per process, renewed every TTL/3; keys attached to it.
 *
 * Failure behaviour, chosen to be visible rather than hidden:
 *   - etcd unreachable at start: DiscoveryUnavailableError within `connectTimeoutMs` (default 3 s).
 *   - etcd unreachable later: keepalives are retried every second; if none succeeds for a whole TTL the lease
 *     has expired on the server too, so onLeaseLost fires. A keepalive answered "no such lease" (revoked,
 *     or expired during a long stall) fires it at once.
 *   - after a loss, renewLease() takes the lease again once etcd answers: the old one if etcd still has it
 *     (an etcd restart restores leases with a fresh TTL), else a new one. leaseId() stays the first lease's
 *     id (the instance id); `lease` is whichever lease holds our keys now.
 *   - a watch whose stream breaks re-reads its prefix, reports the difference as events, and watches on
 *     from that read's revision + 1 (so nothing is missed, even across an etcd restart or compaction).
 */
import type { InstanceId } from '../../protocols/discovery.ts';
import { getLogger } from '../../util/logger.ts';
import { instanceIdFromLease } from '../names.ts';
import {
  DEFAULT_LEASE_TTL_SECONDS,
  type Discovery,
  type DiscoveryEventHandler,
  type DiscoveryWatch,
  encodeValue,
  type KeyValue,
  keepAliveIntervalMs,
} from './discovery.ts';
import {
  cannotReachEtcdMessage,
  DiscoveryError,
  DiscoveryUnavailableError,
  type LeaseLostError,
} from './errors.ts';
import { EtcdGateway, type EtcdKv, EtcdRequestError, GRPC_NOT_FOUND } from './etcd-gateway.ts';
import type { EtcdSecurity } from './etcd-security.ts';
import { EventQueue } from './event-queue.ts';
import { LeaseLostSignal } from './lease-lost.ts';
import { OpenWatches } from './open-watches.ts';
import { diffSnapshots, type Snapshot } from './snapshot-diff.ts';

const log = getLogger('discovery');

export interface EtcdDiscoveryOptions {
  /** e.g. ["http://127.0.0.1:2379"]; tried in order, failing over on no answer. */
  endpoints: string[];
  ttlSeconds?: number;
  /** Bound on reaching etcd at start (default 3000 ms). */
  connectTimeoutMs?: number;
  /** Deadline of each later call (default 2000 ms). */
  requestTimeoutMs?: number;
  /** TLS files and RBAC user for a secured etcd (etcd-security.ts); default: plain HTTP, no auth. */
  security?: EtcdSecurity;
}

/** Values are JSON; a value someone wrote by hand with etcdctl that is not JSON comes back as its text. */
function decodeValue(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

function toSnapshot(kvs: EtcdKv[]): Snapshot {
  return new Map(kvs.map((kv) => [kv.key, { version: kv.modRevision, value: decodeValue(kv.value) }]));
}

/** One prefix watch that outlives broken streams: mirror + stream, resynced by re-reading on reconnect. */
class ResilientWatch {
  private stream: { close(): void } | undefined;
  private closed = false;
  private retryDelayMs = 100;
  private retryTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly gateway: EtcdGateway,
    private readonly prefix: string,
    private mirror: Snapshot,
    private readonly queue: EventQueue,
  ) {}

  open(fromRevision: string): void {
    this.stream = this.gateway.openWatch(this.prefix, fromRevision, {
      onEvents: (events) => {
        this.retryDelayMs = 100;
        for (const { type, kv } of events) {
          if (type === 'delete') {
            this.mirror.delete(kv.key);
            this.queue.push({ type, key: kv.key });
          } else {
            const value = decodeValue(kv.value);
            this.mirror.set(kv.key, { version: kv.modRevision, value });
            this.queue.push({ type, key: kv.key, value });
          }
        }
      },
      onEnd: (err) => this.scheduleResync(err),
    });
  }

  private scheduleResync(err: Error): void {
    if (this.closed) return;
    log.warn('etcd watch stream ended; resyncing', {
      prefix: this.prefix,
      error: err,
      retryInMs: this.retryDelayMs,
    });
    this.retryTimer = setTimeout(() => void this.resync(), this.retryDelayMs);
    this.retryTimer.unref();
    this.retryDelayMs = Math.min(this.retryDelayMs * 2, 2000);
  }

  private async resync(): Promise<void> {
    if (this.closed) return;
    try {
      const { revision, kvs } = await this.gateway.range(this.prefix);
      if (this.closed) return;
      const next = toSnapshot(kvs);
      for (const event of diffSnapshots(this.mirror, next)) this.queue.push(event);
      this.mirror = next;
      this.open((BigInt(revision) + 1n).toString());
      log.info('etcd watch resynced', { prefix: this.prefix, revision });
    } catch (err) {
      this.scheduleResync(err as Error);
    }
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.retryTimer);
    this.stream?.close();
    this.queue.close();
  }
}

export class EtcdDiscovery implements Discovery {
  readonly backend = 'etcd' as const;
  private signal = new LeaseLostSignal();
  private readonly watches = new OpenWatches();
  private keepAliveTimer: NodeJS.Timeout | undefined;
  private lastKeepAlive = Date.now();
  private closed = false;
  private readonly instanceId: InstanceId;

  private constructor(
    private readonly gateway: EtcdGateway,
    /** The lease our keys hang off now (decimal): the first one until a loss and `renewLease`. */
    private lease: string,
    private readonly ttlSeconds: number,
  ) {
    this.instanceId = instanceIdFromLease(lease);
  }

  /** Reach etcd and take a lease, or fail with a clear error within `connectTimeoutMs`. */
  static async connect(opts: EtcdDiscoveryOptions): Promise<EtcdDiscovery> {
    if (opts.endpoints.length === 0)
      throw new DiscoveryUnavailableError('no etcd endpoints given (ETCD_ENDPOINTS is empty)');
    const ttlSeconds = opts.ttlSeconds ?? DEFAULT_LEASE_TTL_SECONDS;
    const gateway = new EtcdGateway(opts.endpoints, opts.requestTimeoutMs ?? 2000, opts.security);
    const connectTimeoutMs = opts.connectTimeoutMs ?? 3000;
    let lease: string;
    try {
      lease = await gateway.grantLease(ttlSeconds, Math.ceil(connectTimeoutMs / opts.endpoints.length));
    } catch (err) {
      if (err instanceof DiscoveryUnavailableError) throw err;
      throw new DiscoveryUnavailableError(
        `${cannotReachEtcdMessage(opts.endpoints)}: ${(err as Error).message}`,
        {
          cause: err,
        },
      );
    }
    const discovery = new EtcdDiscovery(gateway, lease, ttlSeconds);
    discovery.scheduleKeepAlive(keepAliveIntervalMs(ttlSeconds));
    log.info('etcd discovery connected', {
      endpoint: gateway.endpoint,
      instanceId: discovery.leaseId(),
      ttlSeconds,
    });
    return discovery;
  }

  private scheduleKeepAlive(delayMs: number): void {
    this.keepAliveTimer = setTimeout(() => void this.keepAlive(), delayMs);
    this.keepAliveTimer.unref();
  }

  private async keepAlive(): Promise<void> {
    if (this.closed || this.signal.lost) return;
    const interval = keepAliveIntervalMs(this.ttlSeconds);
    try {
      const ttl = await this.gateway.keepAlive(this.lease, Math.min(interval, 2000));
      if (this.closed) return;
      if (ttl <= 0) {
        this.signal.fire(`etcd says lease ${this.leaseHex()} no longer exists (it expired or was revoked)`);
        return;
      }
      this.lastKeepAlive = Date.now();
      this.scheduleKeepAlive(interval);
    } catch (err) {
      if (this.closed) return;
      const silentMs = Date.now() - this.lastKeepAlive;
      if (silentMs >= this.ttlSeconds * 1000) {
        this.signal.fire(
          `no keepalive reached etcd for ${(silentMs / 1000).toFixed(1)} s (TTL ${this.ttlSeconds} s): the lease ` +
            `has expired and our keys are gone. ${cannotReachEtcdMessage(this.gateway.endpoints)}`,
          err,
        );
        return;
      }
      log.warn('etcd keepalive failed; retrying', { error: err, silentMs });
      this.scheduleKeepAlive(Math.min(interval, 1000));
    }
  }

  leaseId(): InstanceId {
    return this.instanceId;
  }

  /** The current lease in hex (what etcdctl shows); equal to leaseId() until a renewal took a new one. */
  private leaseHex(): string {
    return instanceIdFromLease(this.lease);
  }

  async put(key: string, value: unknown): Promise<void> {
    this.signal.throwIfLost();
    try {
      await this.gateway.put(key, encodeValue(key, value), this.lease);
    } catch (err) {
      if (err instanceof EtcdRequestError && err.code === GRPC_NOT_FOUND) {
        this.signal.fire(`etcd says lease ${this.leaseHex()} no longer exists (put ${key})`, err);
        throw this.signal.lost as LeaseLostError;
      }
      throw err;
    }
  }

  async get(key: string): Promise<unknown | undefined> {
    const { kvs } = await this.gateway.range(key, true);
    return kvs[0] ? decodeValue(kvs[0].value) : undefined;
  }

  async delete(key: string): Promise<void> {
    await this.gateway.deleteKey(key);
  }

  async list(prefix: string): Promise<KeyValue[]> {
    const { kvs } = await this.gateway.range(prefix);
    return kvs.map((kv) => ({ key: kv.key, value: decodeValue(kv.value) }));
  }

  async watch(prefix: string, onEvent: DiscoveryEventHandler): Promise<DiscoveryWatch> {
    const { revision, kvs } = await this.gateway.range(prefix);
    const watch = new ResilientWatch(this.gateway, prefix, toSnapshot(kvs), new EventQueue(onEvent));
    watch.open((BigInt(revision) + 1n).toString());
    const initial = kvs.map((kv) => ({ key: kv.key, value: decodeValue(kv.value) }));
    return this.watches.track(initial, () => watch.close());
  }

  onLeaseLost(cb: (err: Error) => void): void {
    this.signal.onLost(cb);
  }

  async renewLease(): Promise<void> {
    if (this.closed) throw new DiscoveryError('discovery is closed; cannot renew its lease');
    if (!this.signal.lost) return;
    // etcd restores leases (with a fresh TTL) when it restarts: if ours survived, our keys did too.
    const ttl = await this.gateway.keepAlive(this.lease).catch((err: unknown) => {
      if (err instanceof EtcdRequestError && err.code === GRPC_NOT_FOUND) return 0;
      throw err;
    });
    const previous = this.leaseHex();
    if (ttl <= 0) this.lease = await this.gateway.grantLease(this.ttlSeconds);
    if (this.closed) return;
    this.signal = new LeaseLostSignal();
    this.lastKeepAlive = Date.now();
    clearTimeout(this.keepAliveTimer);
    this.scheduleKeepAlive(keepAliveIntervalMs(this.ttlSeconds));
    log.info('etcd lease renewed', {
      instanceId: this.instanceId,
      lease: this.leaseHex(),
      previousLease: previous,
      survived: ttl > 0,
    });
  }

  async leaseTtlLeft(): Promise<number> {
    return this.gateway.timeToLive(this.lease);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.keepAliveTimer);
    this.watches.stopAll();
    if (this.signal.lost) return;
    try {
      await this.gateway.revokeLease(this.lease);
    } catch (err) {
      log.warn('could not revoke the etcd lease; our keys will expire with its TTL', {
        error: err,
        ttlSeconds: this.ttlSeconds,
      });
    }
  }
}
