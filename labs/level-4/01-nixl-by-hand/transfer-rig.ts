/**
 * Lab 4.1's test rig, shared by lab.ts and check.ts: start the owner process (owner.ts), build reader agents
 * pinned to one transport, READ block lists from the owner, check every byte, and time a plain in-process
 * memcpy (Buffer.copy) of the same bytes. Like the client half of `ib_read_bw` plus a `memcpy` baseline.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import {
  type AgentMetadata,
  blockBytes,
  blockViews,
  type KvRegion,
  type Notification,
  StreamTransport,
  TransferAgent,
  type TransportKind,
} from '../../../src/transfer/index.ts';
import {
  allocateRegion,
  blockOf,
  patternValue,
  SMOLLM2_135M_LAYOUT,
} from '../../../src/transfer/test-regions.ts';
import { repoRoot } from '../../../src/util/paths.ts';
import { median } from '../../../src/util/stats.ts';

export const LAYOUT = SMOLLM2_135M_LAYOUT;
/** The seed owner.ts fills its pool with (src/transfer/test-regions.ts's patternValue). */
export const OWNER_SEED = 7;
/** The namespace owner.ts publishes its metadata under: /dynamo/v1/nixl_metadata/lab41/{agent}. */
export const OWNER_NAMESPACE = 'lab41';
export const BYTES_PER_BLOCK = blockBytes(LAYOUT);
const TIMEOUT_MS = 120_000;

export interface OwnerProcess {
  pid: number;
  metadata: AgentMetadata;
  /** The etcd key it published its metadata under (with --etcd). */
  key?: string;
  leaseId?: string;
  fillMs: number;
  /** Notifications the owner received, as it reported them. */
  notifs: Notification[];
  waitForNotif(count: number, timeoutMs?: number): Promise<Notification[]>;
  /** SIGTERM: the owner revokes its lease, so its key disappears at once. */
  stop(): Promise<void>;
}

const running = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/** `node --import tsx owner.ts --blocks N [--etcd URL]`, resolved once it printed its metadata. */
export async function startOwner(blocks: number, etcdEndpoint?: string): Promise<OwnerProcess> {
  const script = join(repoRoot, 'labs', 'level-4', '01-nixl-by-hand', 'owner.ts');
  const args = ['--blocks', String(blocks), ...(etcdEndpoint ? ['--etcd', etcdEndpoint] : [])];
  const child = spawn(process.execPath, [join(repoRoot, 'bin', 'run-ts.mjs'), script, ...args], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  running.add(child);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  void exited.then(() => running.delete(child));
  const notifs: Notification[] = [];
  const ready = new Promise<OwnerProcess>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`the owner process exited (${code}) before serving`)));
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
      const message = JSON.parse(line) as {
        ready?: { metadata: AgentMetadata; key?: string; fillMs: number; leaseId?: string };
        notif?: Notification;
      };
      if (message.notif) notifs.push(message.notif);
      if (message.ready)
        resolve({
          pid: child.pid as number,
          ...message.ready,
          notifs,
          waitForNotif: async (count, timeoutMs = 5000) => {
            const deadline = Date.now() + timeoutMs;
            while (notifs.length < count && Date.now() < deadline)
              await new Promise((r) => setTimeout(r, 10));
            return notifs;
          },
          stop: async () => {
            child.kill('SIGTERM');
            await exited;
          },
        });
    });
  });
  return ready;
}

/** A reader ("decode side") agent that can only dial `kind`: TCP even on one host, or a Unix socket. */
export function readerAgent(name: string, kind: TransportKind, region: KvRegion): TransferAgent {
  const agent = new TransferAgent({
    name,
    transports: [new StreamTransport(kind as 'tcp' | 'unix')],
    timeoutMs: TIMEOUT_MS,
  });
  agent.registerRegion(region);
  return agent;
}

/** A fresh, zeroed pool for the reader: `blocks` blocks of LAYOUT. */
export function readerRegion(blocks: number, name = 'kv'): KvRegion {
  return allocateRegion(name, LAYOUT, blocks);
}

/**
 * The block ids of one transfer: the owner's blocks are scattered (a prefill worker's block table after some
 * churn: every block on its own, newest first), ours are 0..n-1 (a fresh decode allocation is contiguous).
 */
export function transferIds(
  n: number,
  ownerBlocks: number,
): { localBlockIds: number[]; remoteBlockIds: number[] } {
  return {
    localBlockIds: Array.from({ length: n }, (_, i) => i),
    remoteBlockIds: Array.from({ length: n }, (_, i) => ownerBlocks - 1 - i),
  };
}

/**
 * Every byte of every layer's K and V of the copied blocks equals what the owner wrote there. Returns the
 * first mismatch as a sentence, or undefined.
 */
export function verifyBlocks(
  dest: KvRegion,
  localBlockIds: number[],
  remoteBlockIds: number[],
): string | undefined {
  for (let layer = 0; layer < LAYOUT.numLayers; layer++) {
    for (const kv of [0, 1] as const) {
      for (let i = 0; i < localBlockIds.length; i++) {
        const got = blockOf(dest, layer, kv, localBlockIds[i] as number);
        const remote = remoteBlockIds[i] as number;
        for (let j = 0; j < got.length; j++) {
          const want = patternValue(OWNER_SEED, layer, kv, remote, j);
          if (got[j] !== want)
            return `local block ${localBlockIds[i]} (owner's ${remote}), layer ${layer} ${kv ? 'V' : 'K'}, float ${j}: ${got[j]}, expected ${want}`;
        }
      }
    }
  }
  return undefined;
}

/** Zero the destination blocks, so a verify after the next read proves that read wrote them. */
export function clearBlocks(dest: KvRegion, ids: number[]): void {
  for (const view of blockViews(dest, { start: 0, end: LAYOUT.numLayers }, ids)) view.fill(0);
}

export interface Timing {
  /** Median wall time of one call, ms. */
  ms: number;
  bytes: number;
  /** bytes / ms, as GB/s (10^9 bytes per second). */
  gbPerSec: number;
  /** Slowest / fastest run: above 2 the machine was busy and the median is a guess. */
  spread: number;
}

const timing = (times: number[], bytes: number): Timing => {
  const ms = median(times);
  return { ms, bytes, gbPerSec: bytes / ms / 1e6, spread: Math.max(...times) / Math.min(...times) };
};

/**
 * Median of `repeats` READs of `remoteBlockIds` (owner) into `localBlockIds` (ours), after one untimed READ
 * that dials the connection (a worker's pooled connection is already open when a hand-off starts).
 */
export async function timeRead(
  agent: TransferAgent,
  owner: string,
  ids: { localBlockIds: number[]; remoteBlockIds: number[] },
  repeats: number,
  notif?: string,
): Promise<Timing> {
  const times: number[] = [];
  let bytes = 0;
  await agent.read(owner, { localRegion: 'kv', remoteRegion: 'kv', ...ids });
  for (let r = 0; r < repeats; r++) {
    const started = performance.now();
    const result = await agent.read(owner, {
      localRegion: 'kv',
      remoteRegion: 'kv',
      ...ids,
      notif: r === repeats - 1 ? notif : undefined,
    });
    times.push(performance.now() - started);
    bytes = result.bytes;
  }
  return timing(times, bytes);
}

/**
 * The baseline: the same block lists copied inside one process with Buffer.copy (memcpy underneath), from a
 * source pool to the destination pool. What the hand-off would cost if both workers shared one address space.
 */
export function timeMemcpy(
  source: KvRegion,
  dest: KvRegion,
  ids: { localBlockIds: number[]; remoteBlockIds: number[] },
  repeats: number,
): Timing {
  const per = BYTES_PER_BLOCK / LAYOUT.numLayers / 2;
  const times: number[] = [];
  for (let r = 0; r < repeats; r++) {
    const started = performance.now();
    for (let l = 0; l < LAYOUT.numLayers; l++) {
      const from = source.layers[l] as { k: Float32Array; v: Float32Array };
      const to = dest.layers[l] as { k: Float32Array; v: Float32Array };
      for (const [src, dst] of [
        [from.k, to.k],
        [from.v, to.v],
      ] as const) {
        const srcBuf = Buffer.from(src.buffer, src.byteOffset, src.byteLength);
        const dstBuf = Buffer.from(dst.buffer, dst.byteOffset, dst.byteLength);
        ids.remoteBlockIds.forEach((remote, i) => {
          srcBuf.copy(dstBuf, (ids.localBlockIds[i] as number) * per, remote * per, (remote + 1) * per);
        });
      }
    }
    times.push(performance.now() - started);
  }
  return timing(times, ids.localBlockIds.length * BYTES_PER_BLOCK);
}
