/**
 * Router replica sync (Dynamo's `--router-replica-sync`): several frontends route to one pool of workers,
 * and each keeps its own in-flight ledger (`active-sequences.ts`). Alone, each would see only its own
 * requests, and two frontends that both think worker w1 is idle would both send their next request there.
 * So each router publishes the three steps of its ledger (a request added to a worker with its blocks,
 * its prefill done, its end) and applies the other replicas' steps to its own ledger, the way database
 * replicas exchange a change log: every replica ends up counting every frontend's requests.
 *
 * This file holds the change record, its wire form (the `active_sequences_events` topic's payload, whose
 * schema belongs to the router) and the bookkeeping of peers' requests: a peer that dies without
 * freeing its requests must not leave them counted forever, so a peer request is dropped after
 * `peerRequestTtlMs` (default 10 min, longer than any request should run). The transport is the
 * frontend's (`frontend/replica-sync.ts`).
 */
import type { RequestId, SequenceHash, WorkerId } from '../protocols/ids.ts';
import type { ActiveSequences } from './active-sequences.ts';

/** One step of a router's in-flight ledger, as published to the other replicas. */
export type SequenceChange =
  | {
      kind: 'add';
      requestId: RequestId;
      workerId: WorkerId;
      /** Full-block sequence hashes of the prompt. */
      blockHashes: readonly SequenceHash[];
      isl: number;
      /** Leading blocks expected cached there when routed (prefill tokens = isl − overlap · blockSize). */
      overlapBlocks: number;
    }
  | { kind: 'prefill_done'; requestId: RequestId; workerId: WorkerId }
  | { kind: 'free'; requestId: RequestId; workerId: WorkerId; outcome: 'done' | 'failed' };

/** The wire form: hashes as decimal strings (64-bit values do not fit JSON numbers). */
export interface SequenceChangeWire {
  kind: SequenceChange['kind'];
  requestId: string;
  workerId: string;
  blockHashes?: string[];
  isl?: number;
  overlapBlocks?: number;
  outcome?: 'done' | 'failed';
}

export function sequenceChangeToWire(change: SequenceChange): SequenceChangeWire {
  switch (change.kind) {
    case 'add':
      return {
        kind: 'add',
        requestId: change.requestId,
        workerId: change.workerId,
        blockHashes: change.blockHashes.map((h) => h.toString()),
        isl: change.isl,
        overlapBlocks: change.overlapBlocks,
      };
    case 'prefill_done':
      return { kind: 'prefill_done', requestId: change.requestId, workerId: change.workerId };
    case 'free':
      return {
        kind: 'free',
        requestId: change.requestId,
        workerId: change.workerId,
        outcome: change.outcome,
      };
  }
}

const DECIMAL_U64 = /^\d{1,20}$/;
const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0;
const isId = (v: unknown): v is string => typeof v === 'string' && v.length > 0 && v.length <= 512;

/** Parse and validate a peer's message; undefined when it is not a well-formed change. */
export function sequenceChangeFromWire(payload: unknown): SequenceChange | undefined {
  if (typeof payload !== 'object' || payload === null) return undefined;
  const p = payload as Record<string, unknown>;
  if (!isId(p.requestId) || !isId(p.workerId)) return undefined;
  const requestId = p.requestId as RequestId;
  const workerId = p.workerId as WorkerId;
  switch (p.kind) {
    case 'add': {
      const hashes = p.blockHashes;
      if (!Array.isArray(hashes) || !hashes.every((h) => typeof h === 'string' && DECIMAL_U64.test(h)))
        return undefined;
      if (!isCount(p.isl) || !isCount(p.overlapBlocks)) return undefined;
      const blockHashes = hashes.map((h) => BigInt(h as string) as SequenceHash);
      return { kind: 'add', requestId, workerId, blockHashes, isl: p.isl, overlapBlocks: p.overlapBlocks };
    }
    case 'prefill_done':
      return { kind: 'prefill_done', requestId, workerId };
    case 'free':
      if (p.outcome !== 'done' && p.outcome !== 'failed') return undefined;
      return { kind: 'free', requestId, workerId, outcome: p.outcome };
    default:
      return undefined;
  }
}

/** The ledger key of a peer's request: its replica id and its own request id, never a local id. */
export function peerRequestKey(replicaId: string, requestId: string): RequestId {
  return `peer/${replicaId}/${requestId}` as RequestId;
}

/** Peer requests counted in this router's ledger, oldest first, so abandoned ones can be dropped. */
export class PeerRequests {
  /** Insertion-ordered: a Map iterates in the order keys were added, so the oldest come first. */
  private readonly since = new Map<RequestId, number>();

  constructor(
    private readonly ttlMs: number,
    private readonly now: () => number,
  ) {}

  add(key: RequestId): void {
    this.since.delete(key);
    this.since.set(key, this.now());
  }

  delete(key: RequestId): void {
    this.since.delete(key);
  }

  has(key: RequestId): boolean {
    return this.since.has(key);
  }

  get size(): number {
    return this.since.size;
  }

  /** Keys older than the TTL (removed here; the caller frees them in its ledger). */
  expired(): RequestId[] {
    const limit = this.now() - this.ttlMs;
    const out: RequestId[] = [];
    for (const [key, at] of this.since) {
      if (at > limit) break;
      out.push(key);
    }
    for (const key of out) this.since.delete(key);
    return out;
  }
}

/** What applying another replica's change touches in a router: its in-flight ledger and its pool. */
export interface PeerChangeTarget {
  active: ActiveSequences;
  hasWorker(workerId: WorkerId): boolean;
  /** Tokens per block of the router's hashes. */
  blockSize(): number;
  /** A peer's request ended normally: its unconfirmed blocks stay predicted a while, as for our own. */
  retirePredictions(key: RequestId): void;
}

/**
 * Apply another router replica's (`replicaId`) ledger step to `target`'s ledger, under the peer's key
 * (`peerRequestKey`); first drop peer requests past their TTL. Returns false when the change was ignored (a
 * worker the router does not know, a request it never saw added).
 */
export function applyPeerChangeTo(
  peers: PeerRequests,
  target: PeerChangeTarget,
  replicaId: string,
  change: SequenceChange,
): boolean {
  const { active } = target;
  for (const key of peers.expired()) active.finish(key);
  const key = peerRequestKey(replicaId, change.requestId);
  switch (change.kind) {
    case 'add':
      if (!target.hasWorker(change.workerId)) return false;
      active.add(
        key,
        change.workerId,
        change.blockHashes,
        change.isl,
        target.blockSize(),
        change.overlapBlocks,
      );
      peers.add(key);
      return true;
    case 'prefill_done':
      if (!peers.has(key)) return false;
      active.markPrefillDone(key);
      return true;
    case 'free':
      if (!peers.has(key)) return false;
      if (change.outcome === 'done') target.retirePredictions(key);
      active.finish(key);
      peers.delete(key);
      return true;
  }
}
