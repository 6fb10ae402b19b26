/**
 * Same-host backend through shared memory files (/dev/shm): the role UCX's shared-memory transports (and
 * NIXL's POSIX file backend) play under NIXL. A Unix socket carries only small frames (wire.ts); the bytes
 * of a READ never cross it:
 *
 *   owner, ahead of time:  stage(region, blocks)   pwritev each block into the region's MIRROR file
 *                                                  (block-major, shm-mirror.ts): 1 kernel copy, off the
 *                                                  READ's critical path (a prefill worker stages a
 *                                                  request's blocks as soon as it has computed them)
 *   reader:  read {blocks} ─▶ owner checks layout and ranges, answers ok {file, order: 'blocks'}
 *            preadv the blocks straight into its KV blocks, several calls in flight on libuv's pool
 *            threads: 1 kernel copy on the critical path (a socket needs 2, a memcpy 1)
 *
 * Blocks not staged ahead are staged for that READ (the owner pwritevs them into a per-connection scratch
 * file in wire order, then answers ok {file, order: 'wire'}): 2 kernel copies, both on the critical path,
 * counted in `stagedOnReadBytes`. A WRITE streams its payload over the control socket like the unix
 * backend's (1 user copy on the target) and unstages the blocks it overwrote.
 *
 * Address: "shm:///dev/shm/dhw-kv-PID-XXXX" — a directory holding ctl.sock, the mirrors and scratch files;
 * it is removed when the listener closes.
 */
import { closeSync, existsSync, ftruncateSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ShmClient } from './shm-client.ts';
import { ShmServedConnection, type ShmStage } from './shm-served-connection.ts';
import { allLayers } from './region.ts';
import { mirrorPosition } from './shm-mirror.ts';
import { writeRuns, type FileRun } from './file-runs.ts';
import { blockBytes, type KvLayout } from './layout.ts';
import { type KvTransport, newCounters, type TransferTarget, type TransportListener } from './transport.ts';
import type { NotifHeader, TransferHeader } from './wire.ts';
import { TransferError } from './errors.ts';
import { removeIfOwnerDead, shmAddressDir, shmDirPrefix, sweepStaleShmDirs } from './shm-sweep.ts';

export interface ShmTransportOptions {
  /** Where the directory of mirrors goes (default /dev/shm when it exists, else the OS temp directory). */
  baseDir?: string;
  /** preadv/pwritev calls in flight per transfer (default 4: libuv's thread pool size). */
  ioConcurrency?: number;
}

const DEFAULT_IO_CONCURRENCY = 4;

/** One region's mirror: its file and which blocks hold the owner's current bytes. */
interface Mirror {
  path: string;
  fd: number;
  layout: KvLayout;
  staged: Set<number>;
  /** Bumped by each unstage: a stage that was in flight meanwhile must not mark the block staged. */
  epochs: Map<number, number>;
  /** Blocks being staged now → that staging: a READ of them waits for it rather than copying them again. */
  pending: Map<number, Promise<void>>;
  /** Stagings run one after another, so a later stage of a block always writes its bytes last. */
  chain: Promise<void>;
}

export class ShmTransport implements KvTransport, ShmStage {
  readonly kind = 'shm' as const;
  readonly counters = newCounters();
  readonly ioConcurrency: number;
  private readonly idle = new Map<string, ShmClient[]>();
  private readonly open = new Set<ShmClient>();
  private readonly mirrors = new Map<string, Mirror>();
  private dir: string | null = null;
  /** Staging writes in flight: mirrors are closed only after them (a reused fd number must not be hit). */
  private readonly staging = new Set<Promise<unknown>>();
  private target: TransferTarget | null = null;

  constructor(private readonly options: ShmTransportOptions = {}) {
    this.ioConcurrency = options.ioConcurrency ?? DEFAULT_IO_CONCURRENCY;
  }

  async listen(target: TransferTarget): Promise<TransportListener> {
    const base = this.options.baseDir ?? (existsSync('/dev/shm') ? '/dev/shm' : tmpdir());
    // Mirrors of workers killed on this host before they could remove them: free their tmpfs pages.
    sweepStaleShmDirs(base);
    const dir = mkdtempSync(join(base, shmDirPrefix()));
    this.dir = dir;
    this.target = target;
    const sockets = new Set<Socket>();
    let nextConn = 0;
    const server = createServer((socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      new ShmServedConnection(socket, target, this, join(dir, `conn-${nextConn++}.tmp`));
    });
    await listenOn(server, join(dir, 'ctl.sock'));
    return {
      address: `shm://${dir}`,
      close: async () => {
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        for (const socket of sockets) socket.destroy();
        await closed;
        await Promise.allSettled([...this.staging]);
        this.dropMirrors();
        rmSync(dir, { recursive: true, force: true });
        if (this.dir === dir) this.dir = null;
      },
    };
  }

  /**
   * Copy blocks of `region` (every layer, as they are now) into its mirror; later READs skip the owner.
   * Stagings of one mirror run in call order; a block unstaged while its staging was in flight stays
   * unstaged (its owner may have rewritten it during the copy).
   */
  async stage(region: string, layout: KvLayout, blockIds: readonly number[]): Promise<void> {
    const target = this.target;
    if (!target || !this.dir)
      throw new TransferError('stage() needs a listening shm transport: start the agent first');
    const mirror = this.mirror(region, layout);
    const fresh = [...new Set(blockIds)].filter((b) => !mirror.staged.has(b));
    if (fresh.length === 0) return;
    const epochs = fresh.map((b) => mirror.epochs.get(b) ?? 0);
    // The copy starts after one event-loop turn: the caller's pending work (a prefill worker's answer that
    // carries these block ids) goes out first, and the copy overlaps its trip to the decode worker. READs
    // of these blocks wait for it from now on (`pending`).
    const io = mirror.chain.then(nextTurn).then(async () => {
      const runs: FileRun[] = [];
      for (const block of fresh) {
        const views = await target.prepare(stageHeader(region, layout, block));
        runs.push({ position: mirrorPosition(layout, block, 0), views });
      }
      await writeRuns(mirror.fd, runs, this.ioConcurrency);
    });
    const settled = io.catch(() => undefined);
    mirror.chain = settled;
    for (const block of fresh) mirror.pending.set(block, settled);
    this.staging.add(io);
    try {
      await io;
      let staged = 0;
      fresh.forEach((block, i) => {
        if ((mirror.epochs.get(block) ?? 0) !== epochs[i]) return;
        mirror.staged.add(block);
        staged++;
      });
      this.counters.stagedAheadBytes += staged * blockBytes(layout);
    } finally {
      this.staging.delete(io);
      for (const block of fresh) if (mirror.pending.get(block) === settled) mirror.pending.delete(block);
      this.truncateIfEmpty(mirror);
    }
  }

  /** Forget staged blocks; a mirror left with none is truncated, giving its pages back to tmpfs. */
  unstage(region: string, blockIds: readonly number[]): void {
    const mirror = this.mirrors.get(region);
    if (!mirror) return;
    for (const b of blockIds) {
      mirror.staged.delete(b);
      mirror.epochs.set(b, (mirror.epochs.get(b) ?? 0) + 1);
    }
    this.truncateIfEmpty(mirror);
  }

  /** Blocks staged now, over every region (a leak check expects 0 once every hold is released). */
  get stagedBlocks(): number {
    let n = 0;
    for (const mirror of this.mirrors.values()) n += mirror.staged.size;
    return n;
  }

  /** Wait for the stagings in flight of the request's blocks (a READ right after a hold: no double copy). */
  async whenStaged(header: TransferHeader): Promise<void> {
    const mirror = this.mirrors.get(header.region);
    if (!mirror || mirror.pending.size === 0) return;
    const waits = new Set<Promise<void>>();
    for (const b of header.blockIds) {
      const p = mirror.pending.get(b);
      if (p) waits.add(p);
    }
    await Promise.all(waits);
  }

  /** The mirror file holding every block of the request, or null if some block is not staged. */
  stagedFile(header: TransferHeader): string | null {
    const mirror = this.mirrors.get(header.region);
    if (!mirror || !sameLayout(mirror.layout, header.layout)) return null;
    for (const b of header.blockIds) if (!mirror.staged.has(b)) return null;
    return mirror.path;
  }

  async transfer(
    address: string,
    header: TransferHeader,
    local: Uint8Array[],
    timeoutMs: number,
  ): Promise<void> {
    const client = await this.acquire(address, timeoutMs);
    try {
      await client.transfer(header, local, timeoutMs);
    } finally {
      this.release(client);
    }
  }

  async sendNotif(address: string, notif: NotifHeader, timeoutMs: number): Promise<void> {
    const client = await this.acquire(address, timeoutMs);
    client.sendNotif(notif);
    this.release(client);
  }

  /**
   * A peer at `address` left discovery: drop our idle connections to it, and if its process is dead (its
   * lease expired after a kill -9), remove the mirrors it left in /dev/shm.
   */
  peerGone(address: string): void {
    for (const client of this.idle.get(address) ?? []) {
      client.destroy();
      this.open.delete(client);
    }
    this.idle.delete(address);
    try {
      removeIfOwnerDead(shmAddressDir(address).dir);
    } catch {
      // Not removable by us (another user's): its owner's host cleans it up at its next start.
    }
  }

  async close(): Promise<void> {
    for (const client of this.open) client.destroy();
    this.open.clear();
    this.idle.clear();
  }

  private mirror(region: string, layout: KvLayout): Mirror {
    const known = this.mirrors.get(region);
    if (known && sameLayout(known.layout, layout)) return known;
    if (known) this.dropMirror(region, known); // re-registered with another layout: start over
    const path = join(this.dir as string, `${encodeURIComponent(region)}.kv`);
    const mirror: Mirror = {
      path,
      fd: openSync(path, 'w+'),
      layout,
      staged: new Set(),
      epochs: new Map(),
      pending: new Map(),
      chain: Promise.resolve(),
    };
    this.mirrors.set(region, mirror);
    return mirror;
  }

  private truncateIfEmpty(mirror: Mirror): void {
    const open = [...this.mirrors.values()].includes(mirror); // a dropped mirror's fd is closed
    if (open && mirror.staged.size === 0 && this.staging.size === 0) ftruncateSync(mirror.fd, 0);
  }

  private dropMirror(region: string, mirror: Mirror): void {
    closeSync(mirror.fd);
    rmSync(mirror.path, { force: true });
    this.mirrors.delete(region);
  }

  private dropMirrors(): void {
    for (const [region, mirror] of this.mirrors) this.dropMirror(region, mirror);
  }

  private async acquire(address: string, timeoutMs: number): Promise<ShmClient> {
    const pool = this.idle.get(address);
    while (pool?.length) {
      const client = pool.pop() as ShmClient;
      if (client.usable) return client;
      this.open.delete(client);
    }
    const client = await ShmClient.open(address, this, timeoutMs);
    this.open.add(client);
    return client;
  }

  private release(client: ShmClient): void {
    if (!client.usable) {
      this.open.delete(client);
      return;
    }
    const pool = this.idle.get(client.address) ?? [];
    pool.push(client);
    this.idle.set(client.address, pool);
  }
}

/** A READ of one whole block: what staging asks the target for (its views come in mirror order). */
function stageHeader(region: string, layout: KvLayout, block: number): TransferHeader {
  return {
    type: 'read',
    from: '(staging)',
    region,
    layout,
    layers: allLayers(layout),
    blockIds: [block],
    bytes: blockBytes(layout),
  };
}

function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

function sameLayout(a: KvLayout, b: KvLayout): boolean {
  return (
    a.numLayers === b.numLayers &&
    a.blockSize === b.blockSize &&
    a.numKvHeads === b.numKvHeads &&
    a.headDim === b.headDim &&
    a.dtype === b.dtype
  );
}

function listenOn(server: Server, path: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => resolve());
  });
}
