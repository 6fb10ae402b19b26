/**
 * The on-disk layout of the file backend, like a lock directory shared by cooperating processes:
 *
 *   DIR/leases/{instanceId}        one per live process; mtime = its last keepalive; body {ttlSeconds, pid}
 *   DIR/keys/{encodeURIComponent(key)}.json   body {key, value, lease}
 *
 * A key is live while its lease file exists and mtime + TTL is in the future. Whoever reads a dead key
 * removes it (and the dead lease file), so a killed process's keys disappear within its TTL plus one poll.
 * Writes go to a dot-file first and are renamed into place: readers never see half a file.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, readdir, rename, stat, unlink, utimes, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { InstanceId } from '../../protocols/discovery.ts';
import type { Snapshot } from './snapshot-diff.ts';

interface LeaseBody {
  ttlSeconds: number;
  pid: number;
  hostname: string;
}

interface KeyBody {
  key: string;
  value: unknown;
  lease: InstanceId;
}

const KEY_SUFFIX = '.json';
const MAX_CACHED_LEASES = 1024;

/** A key file as last read: its version (inode:mtime) and parsed body. */
interface CachedKey {
  /** The key its file name encodes. */
  key: string;
  version: string;
  body: KeyBody;
}

/** Stat and contents of one file through one descriptor, so both describe the same version of it. */
async function readWithStat(path: string): Promise<{ text: string; ino: number; mtimeMs: number }> {
  const handle = await open(path, 'r');
  try {
    const [info, text] = await Promise.all([handle.stat(), handle.readFile('utf8')]);
    return { text, ino: info.ino, mtimeMs: info.mtimeMs };
  } finally {
    await handle.close();
  }
}

function isMissing(err: unknown): boolean {
  return (err as NodeJS.ErrnoException).code === 'ENOENT';
}

async function unlinkQuietly(path: string): Promise<void> {
  await unlink(path).catch((err) => {
    if (!isMissing(err)) throw err;
  });
}

export class FileStore {
  readonly leasesDir: string;
  readonly keysDir: string;
  /**
   * Key files by name, as last read. Watches re-scan every 100 ms: one `stat` tells an unchanged file
   * (same inode:mtime: keys are replaced by rename, so a rewrite is a new inode) from a changed one, and only
   * a changed one is opened and read (open, fstat, read, close: five thread-pool round trips instead of one).
   */
  private readonly keyCache = new Map<string, CachedKey>();
  /** Lease TTLs by `path:inode`: a lease file's body is written once ('wx'); keepalives only bump its mtime. */
  private readonly leaseTtls = new Map<string, number>();

  constructor(readonly dir: string) {
    this.leasesDir = join(dir, 'leases');
    this.keysDir = join(dir, 'keys');
  }

  async init(): Promise<void> {
    await mkdir(this.leasesDir, { recursive: true });
    await mkdir(this.keysDir, { recursive: true });
  }

  leasePath(id: InstanceId): string {
    return join(this.leasesDir, id);
  }

  keyPath(key: string): string {
    return join(this.keysDir, `${encodeURIComponent(key)}${KEY_SUFFIX}`);
  }

  async createLease(id: InstanceId, ttlSeconds: number): Promise<void> {
    const body: LeaseBody = { ttlSeconds, pid: process.pid, hostname: hostname() };
    await writeFile(this.leasePath(id), JSON.stringify(body), { flag: 'wx' });
  }

  /** Keepalive: bump the lease file's mtime. Throws ENOENT if someone removed it (expired or revoked). */
  async touchLease(id: InstanceId): Promise<void> {
    const now = new Date();
    await utimes(this.leasePath(id), now, now);
  }

  /** Seconds left on a lease, or -1 if it is gone or expired. */
  async leaseTtlLeft(id: InstanceId): Promise<number> {
    const deadline = await this.leaseDeadline(id);
    return deadline === undefined ? -1 : Math.max(0, (deadline - Date.now()) / 1000);
  }

  async removeLease(id: InstanceId): Promise<void> {
    await unlinkQuietly(this.leasePath(id));
  }

  async writeKey(key: string, value: string, lease: InstanceId): Promise<void> {
    const tmp = join(this.keysDir, `.tmp-${randomBytes(6).toString('hex')}`);
    await writeFile(tmp, `{"key":${JSON.stringify(key)},"lease":${JSON.stringify(lease)},"value":${value}}`);
    await rename(tmp, this.keyPath(key));
  }

  async removeKey(key: string): Promise<void> {
    await unlinkQuietly(this.keyPath(key));
  }

  /** Remove a key only if it is still attached to `lease` (what revoking a lease does in etcd). */
  async removeKeyIfOwned(key: string, lease: InstanceId): Promise<void> {
    try {
      const body = JSON.parse((await readWithStat(this.keyPath(key))).text) as KeyBody;
      if (body.lease === lease) await unlinkQuietly(this.keyPath(key));
    } catch (err) {
      if (!isMissing(err) && !(err instanceof SyntaxError)) throw err;
    }
  }

  /** Expiry time (ms since epoch) of a lease, or undefined if it is gone or expired (then it is removed). */
  private async leaseDeadline(id: InstanceId): Promise<number | undefined> {
    const path = this.leasePath(id);
    try {
      const { mtimeMs, ttlSeconds } = await this.leaseState(path);
      const deadline = mtimeMs + ttlSeconds * 1000;
      if (deadline > Date.now()) return deadline;
      this.leaseTtls.delete(path);
      await unlinkQuietly(path);
      return undefined;
    } catch (err) {
      if (isMissing(err) || err instanceof SyntaxError) return undefined; // gone, or being written right now
      throw err;
    }
  }

  /** A lease file's mtime (its last keepalive) and TTL: a `stat` when its body was read before. */
  private async leaseState(path: string): Promise<{ mtimeMs: number; ttlSeconds: number }> {
    const info = await stat(path);
    const known = this.leaseTtls.get(`${path}:${info.ino}`);
    if (known !== undefined) return { mtimeMs: info.mtimeMs, ttlSeconds: known };
    const { text, ino, mtimeMs } = await readWithStat(path);
    const ttlSeconds = (JSON.parse(text) as LeaseBody).ttlSeconds;
    // Leases come and go with processes; a bound keeps a long-lived watcher's map small.
    if (this.leaseTtls.size >= MAX_CACHED_LEASES) this.leaseTtls.clear();
    this.leaseTtls.set(`${path}:${ino}`, ttlSeconds);
    return { mtimeMs, ttlSeconds };
  }

  /**
   * Every live key under `prefix`: key → {version, value}. Version = inode:mtime, so any rewrite is a change.
   * Keys whose lease is gone are removed on the way. `expiry.earliest` is lowered to the soonest deadline
   * (ms since epoch) of the leases those keys name: until then no key can expire.
   */
  async scan(prefix: string, expiry?: { earliest: number }): Promise<Snapshot> {
    const snapshot: Snapshot = new Map();
    const leaseAlive = new Map<InstanceId, Promise<boolean>>();
    const isAlive = (id: InstanceId) => {
      let alive = leaseAlive.get(id);
      if (!alive) {
        alive = this.leaseDeadline(id).then((d) => {
          if (expiry && d !== undefined) expiry.earliest = Math.min(expiry.earliest, d);
          return d !== undefined;
        });
        leaseAlive.set(id, alive);
      }
      return alive;
    };
    const names = (await readdir(this.keysDir)).filter((n) => n.endsWith(KEY_SUFFIX) && !n.startsWith('.'));
    const seen = new Set<string>();
    await Promise.all(
      names.map(async (name) => {
        const key = decodeURIComponent(name.slice(0, -KEY_SUFFIX.length));
        if (!key.startsWith(prefix)) return;
        seen.add(key);
        const path = join(this.keysDir, name);
        let file: CachedKey;
        try {
          file = await this.readKeyFile(key, name, path);
        } catch (err) {
          if (isMissing(err)) return; // deleted between readdir and read
          throw err;
        }
        if (await isAlive(file.body.lease))
          snapshot.set(key, { version: file.version, value: file.body.value });
        else await unlinkQuietly(path);
      }),
    );
    this.forgetKeysGone(prefix, seen);
    return snapshot;
  }

  /** One key file's version and body: from the cache when a `stat` shows the same version. */
  private async readKeyFile(key: string, name: string, path: string): Promise<CachedKey> {
    const info = await stat(path);
    const cached = this.keyCache.get(name);
    if (cached !== undefined && cached.version === `${info.ino}:${info.mtimeMs}`) return cached;
    const { text, ino, mtimeMs } = await readWithStat(path);
    const file: CachedKey = { key, version: `${ino}:${mtimeMs}`, body: JSON.parse(text) as KeyBody };
    this.keyCache.set(name, file);
    return file;
  }

  /** Drop cached key files under `prefix` that this scan did not list (deleted since). */
  private forgetKeysGone(prefix: string, seen: Set<string>): void {
    for (const [name, file] of this.keyCache) {
      if (file.key.startsWith(prefix) && !seen.has(file.key)) this.keyCache.delete(name);
    }
  }

  /** One key's value if it is live. */
  async read(key: string): Promise<unknown | undefined> {
    const snapshot = await this.scan(key);
    return snapshot.get(key)?.value;
  }
}
