/**
 * The prefill side of disaggregated serving: finished `doRemoteDecode` requests whose KV blocks stay
 * allocated ("held") until the decode worker has pulled them. Like a lease table in a lock service: each
 * hold names its owner (the request id), has a deadline, and is dropped either by the owner's release
 * (the decode worker's "release:{id}" notification) or by the deadline, never silently forgotten.
 *
 * The blocks stay in the KvCacheManager under the request id (it keeps its references), so every metric
 * that counts blocks in use (load metrics, kvBlocksInUse, the KV gauge) counts held blocks too, and a
 * hold's prompt blocks stay in the prefix cache for other requests to share meanwhile.
 *
 * Expiry uses an unref'd wall-clock timer: a forgotten hold never keeps a process (or a replay) alive.
 */
import { KvConfigError } from '../kv/index.ts';
import type { RequestId } from '../protocols/ids.ts';
import { getLogger } from '../util/logger.ts';
import type { KvTransferEvent } from './kv-transfer-events.ts';

const log = getLogger('engine');

/** How long a prefill worker keeps a finished request's blocks for its decode worker (Dynamo: 30 s). */
export const DEFAULT_KV_HOLD_TIMEOUT_MS = 30_000;
/** setTimeout's ceiling (2^31 − 1 ms, ~24.8 days): a longer delay would fire at once. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export interface KvHoldLedgerOptions {
  timeoutMs: number;
  /** Drop the request's block references (KvCacheManager.free) and let waiting work use them. */
  free: (requestId: RequestId) => void;
  emit: (event: KvTransferEvent) => void;
  workerId: string;
}

interface KvHold {
  blocks: number;
  expiresAtMs: number;
  timer: ReturnType<typeof setTimeout>;
}

export class KvHoldLedger {
  private readonly holds = new Map<RequestId, KvHold>();
  private numBlocks = 0;

  private readonly timeoutMs: number;

  constructor(private readonly opts: KvHoldLedgerOptions) {
    if (!(opts.timeoutMs > 0) || opts.timeoutMs > MAX_TIMER_MS) {
      throw new KvConfigError(
        `the KV hold timeout must be between 1 ms and ${MAX_TIMER_MS} ms, got ${opts.timeoutMs}: ` +
          'check --kv-hold-timeout',
      );
    }
    // Whole ms: the deadline travels as an integer timestamp (kvTransferParams.expiresAtMs).
    this.timeoutMs = Math.ceil(opts.timeoutMs);
  }

  /** Requests whose blocks are held. */
  get size(): number {
    return this.holds.size;
  }

  /** Blocks in all holds' block tables (a block shared by two holds counts twice). */
  get blocks(): number {
    return this.numBlocks;
  }

  has(requestId: RequestId): boolean {
    return this.holds.has(requestId);
  }

  /** Start holding `blocks` blocks for `requestId`; returns the wall-clock deadline (Date.now() ms). */
  hold(requestId: RequestId, blocks: number): number {
    this.release(requestId); // a hold per id: the KV cache keys blocks by request id too
    const expiresAtMs = Date.now() + this.timeoutMs;
    const timer = setTimeout(() => this.expire(requestId), this.timeoutMs);
    timer.unref();
    this.holds.set(requestId, { blocks, expiresAtMs, timer });
    this.numBlocks += blocks;
    this.opts.emit({ kind: 'held', requestId, blocks });
    log.debug('holding KV blocks for the decode worker', {
      requestId,
      workerId: this.opts.workerId,
      blocks,
      timeoutMs: this.timeoutMs,
    });
    return expiresAtMs;
  }

  /** The decode worker has the blocks (or nobody wants them): free them. False if not held. */
  release(requestId: RequestId): boolean {
    const hold = this.drop(requestId);
    if (hold === undefined) return false;
    this.opts.emit({ kind: 'released', requestId, blocks: hold.blocks });
    return true;
  }

  /** Free every hold (engine shutdown). Returns how many there were. */
  releaseAll(): number {
    const ids = [...this.holds.keys()];
    for (const id of ids) this.release(id);
    return ids.length;
  }

  private expire(requestId: RequestId): void {
    const hold = this.drop(requestId);
    if (hold === undefined) return;
    log.warn('held KV blocks expired before a decode worker released them', {
      requestId,
      workerId: this.opts.workerId,
      blocks: hold.blocks,
      timeoutMs: this.timeoutMs,
      hint: 'the decode worker never pulled them (it failed, fell back, or the hold timeout is too short)',
    });
    this.opts.emit({ kind: 'hold_expired', requestId, blocks: hold.blocks });
  }

  private drop(requestId: RequestId): KvHold | undefined {
    const hold = this.holds.get(requestId);
    if (hold === undefined) return undefined;
    clearTimeout(hold.timer);
    this.holds.delete(requestId);
    this.numBlocks -= hold.blocks;
    this.opts.free(requestId);
    return hold;
  }
}
