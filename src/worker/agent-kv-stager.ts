/**
 * The prefill worker's KvHoldStager: while the engine holds a finished prompt's blocks for a decode worker,
 * the transfer agent keeps a copy of them in its shm mirror (/dev/shm), so a same-host decode worker's READ
 * is one preadv straight into its own blocks, and this process's event loop serves no payload byte. Like a
 * file server pinning pages in a shared page cache for as long as a client holds a lease on them.
 *
 *   engine hold(r, [4, 9])   ─► refcount 4: 0→1, 9: 0→1 ─► agent.stageBlocks('kv', [4, 9])   (background I/O)
 *   engine release/expiry(r) ─► refcount 4: 1→0, 9: 1→0 ─► agent.unstageBlocks('kv', [4, 9]) (at once)
 *                               (called BEFORE the engine frees the blocks: nothing has rewritten them)
 *
 * Counted per block: two holds can share a prefix-cached block, and releasing one must not unstage the
 * other's. The unstage is synchronous, so no READ can be served a block's mirror copy once its owner let it
 * go; a staging still in flight then does not mark it staged (ShmTransport's per-block epochs), and the
 * next staging of the block writes after it (stagings of a mirror run in order). A failed stage (e.g.
 * /dev/shm full) costs only speed: the owner then copies the blocks during the READ (`stagedOnReadBytes`).
 */
import type { KvHoldStager } from '../engine/index.ts';
import type { BlockId, RequestId } from '../protocols/ids.ts';
import type { TransferAgent } from '../transfer/index.ts';
import type { Logger } from '../util/logger.ts';
import { KV_REGION } from './agent-kv-connector.ts';

export class AgentKvStager implements KvHoldStager {
  /** Holds referencing each staged block. */
  private readonly refs = new Map<number, number>();
  private readonly inFlight = new Set<Promise<void>>();
  private warned = false;

  constructor(
    private readonly agent: TransferAgent,
    private readonly log: Logger,
  ) {}

  /** Blocks in the mirror now (or queued to be): what a leak check expects to return to 0. */
  get stagedBlocks(): number {
    return this.refs.size;
  }

  stage(requestId: RequestId, blockIds: readonly BlockId[]): void {
    const fresh: number[] = [];
    for (const id of new Set(blockIds.map(Number))) {
      const n = this.refs.get(id) ?? 0;
      this.refs.set(id, n + 1);
      if (n === 0) fresh.push(id);
    }
    if (fresh.length === 0) return;
    const staging = this.agent.stageBlocks(KV_REGION, fresh).catch((err) => {
      if (!this.warned)
        this.log.warn('staging held KV blocks into shared memory failed; same-host pulls copy them then', {
          requestId,
          blocks: fresh.length,
          error: err,
          hint: 'is /dev/shm full or too small (docker: --shm-size)?',
        });
      this.warned = true;
    });
    this.inFlight.add(staging);
    void staging.finally(() => this.inFlight.delete(staging));
  }

  unstage(_requestId: RequestId, blockIds: readonly BlockId[]): void {
    const gone: number[] = [];
    for (const id of new Set(blockIds.map(Number))) {
      const n = this.refs.get(id);
      if (n === undefined) continue;
      if (n > 1) this.refs.set(id, n - 1);
      else {
        this.refs.delete(id);
        gone.push(id);
      }
    }
    if (gone.length > 0) this.agent.unstageBlocks(KV_REGION, gone);
  }

  /** Wait for the stagings in flight (stop: before the agent closes its mirrors). */
  async settled(): Promise<void> {
    await Promise.all(this.inFlight);
  }
}
