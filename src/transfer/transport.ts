/**
 * The `KvTransport` contract: how bytes move between two agents, with the agent (memory registration,
 * layouts, block ids) kept out of it, the way NIXL's agent sits above its UCX / libfabric / POSIX backend
 * plugins. Three backends, one behaviour (conformance.ts runs the same suite over each):
 *
 *   tcp     dedicated data connections (not the request plane's), any host
 *   unix    the same protocol over a Unix domain socket: same-host peers, no TCP/IP stack
 *   shm     same host: READs served from a /dev/shm mirror the owner staged (shm-transport.ts)
 *   memory  one process: the target's views are copied directly (embedded mode, unit tests)
 *
 * A target is whatever owns registered memory (the agent): it turns a request into byte views, or refuses
 * it with a named error, and receives notifications.
 */
import type { KvLayout } from './layout.ts';
import type { NotifHeader, TransferHeader } from './wire.ts';

export type TransportKind = 'tcp' | 'unix' | 'shm' | 'memory';

export interface TransferTarget {
  /** The views a request covers, in wire order; throw a named TransferError to refuse it. */
  prepare(header: TransferHeader): Uint8Array[] | Promise<Uint8Array[]>;
  /** The checks of `prepare` without building views (a READ served from a staged mirror needs none). */
  check?(header: TransferHeader): void;
  /** A notification from a peer: after a WRITE's bytes landed, after a READ's bytes arrived, or on its own. */
  notify(from: string, message: string): void;
}

export interface TransportListener {
  /** Where peers reach this target: "tcp://host:port", "unix:///path.sock" or "memory://name". */
  readonly address: string;
  /** Stop accepting and drop every open data connection (peers mid-transfer get PeerClosedError). */
  close(): Promise<void>;
}

/** Running totals, for metrics and for the benchmark's copies-per-byte figure. */
export interface TransferCounters {
  /** Payload bytes this side put on the wire (READ answers served, WRITEs initiated). */
  bytesSent: number;
  /** Payload bytes this side took off the wire (READs initiated, WRITEs served). */
  bytesReceived: number;
  /** Payload bytes copied by our own code (not by the kernel): 0 where the kernel reads straight into KV blocks. */
  userCopiedBytes: number;
  /** shm: bytes the owner copied into its mirror ahead of any READ (`stage`), off the READ's critical path. */
  stagedAheadBytes: number;
  /** shm: bytes the owner copied into a file while serving a READ (blocks not staged ahead): on the path. */
  stagedOnReadBytes: number;
}

export function newCounters(): TransferCounters {
  return { bytesSent: 0, bytesReceived: 0, userCopiedBytes: 0, stagedAheadBytes: 0, stagedOnReadBytes: 0 };
}

export interface KvTransport {
  readonly kind: TransportKind;
  readonly counters: TransferCounters;
  listen(target: TransferTarget): Promise<TransportListener>;
  /**
   * One descriptor list. READ: fill `local` with the target's bytes, then deliver `header.notif` to it.
   * WRITE: send `local` into the target's views; it delivers `header.notif` once they landed.
   * Rejects with PeerClosedError, TransferTimeoutError or the target's refusal (BlockRangeError, ...).
   */
  transfer(address: string, header: TransferHeader, local: Uint8Array[], timeoutMs: number): Promise<void>;
  /** A notification with no transfer (NIXL's genNotif), e.g. "release request r1's blocks". */
  sendNotif(address: string, notif: NotifHeader, timeoutMs: number): Promise<void>;
  /**
   * Optional (shm): copy these blocks of a registered region, as they are now, where peers read them
   * without the owner's event loop (after `listen`). The owner must `unstage` a block before rewriting it.
   */
  stage?(region: string, layout: KvLayout, blockIds: readonly number[]): Promise<void>;
  /** Optional (shm): forget staged copies; READs of those blocks are staged again on demand. */
  unstage?(region: string, blockIds: readonly number[]): void;
  /** Optional: a peer reachable at `address` (this transport's kind) left the peer table. */
  peerGone?(address: string): void;
  /** Close idle and open data connections this side initiated. */
  close(): Promise<void>;
}
