/**
 * Test kit: a KvConnector between engines in ONE process. It copies a held prefill's blocks out of the
 * prefill engine's KV tensors into the decode engine's, every layer, K and V, then releases the hold, as
 * the worker's transfer-agent connector does across processes (read + "release" notification). Like a
 * loopback network device: the real protocol steps, no wire.
 *
 * It records every plan it is given, so tests can assert what was pulled (a decode-side prefix hit pulls
 * only the blocks the decode side lacks).
 */
import type { KvCacheTensors } from '../../model/index.ts';
import type { KvConnector, KvLoadPlan, KvLoadResult } from '../kv-connector.ts';

/** A prefill engine as the connector sees it: its KV memory and its hold ledger. */
export interface KvPeer {
  kvTensors: KvCacheTensors;
  releaseHeld(requestId: string): boolean;
}

export class CopyKvConnector implements KvConnector {
  /** Every plan loaded, in order. */
  readonly plans: KvLoadPlan[] = [];

  /**
   * @param local the decode engine's KV tensors (where blocks go)
   * @param peers prefill engines by agent name (`kvTransferParams.remoteAgent` = their workerId)
   */
  constructor(
    private readonly local: KvCacheTensors,
    private readonly peers: ReadonlyMap<string, KvPeer>,
  ) {}

  async loadBlocks(plan: KvLoadPlan, signal: AbortSignal): Promise<KvLoadResult> {
    const started = performance.now();
    this.plans.push(plan);
    signal.throwIfAborted();
    const peer = this.peers.get(plan.params.remoteAgent);
    if (peer === undefined) {
      throw new Error(`no prefill engine named ${plan.params.remoteAgent} is registered with this connector`);
    }
    assertSameLayout(peer.kvTensors, this.local);
    const bytes = copyBlocks(peer.kvTensors, this.local, plan.remoteBlockIds, plan.localBlockIds);
    await Promise.resolve(); // settle asynchronously, like any real pull
    peer.releaseHeld(plan.params.remoteRequestId);
    return { bytes, ms: performance.now() - started };
  }
}

/** Copy whole blocks `from[i]` of `src` → `to[i]` of `dst`, every layer, K and V. Returns bytes copied. */
export function copyBlocks(
  src: KvCacheTensors,
  dst: KvCacheTensors,
  from: readonly number[],
  to: readonly number[],
): number {
  if (from.length !== to.length) throw new Error(`copying ${from.length} blocks into ${to.length}`);
  const floatsPerBlock = src.blockSize * src.numKvHeads * src.headDim;
  for (let l = 0; l < src.numLayers; l++) {
    for (const [srcTensor, dstTensor] of [
      [src.key[l]!, dst.key[l]!],
      [src.value[l]!, dst.value[l]!],
    ] as const) {
      from.forEach((block, i) => {
        const start = block * floatsPerBlock;
        dstTensor.set(srcTensor.subarray(start, start + floatsPerBlock), to[i]! * floatsPerBlock);
      });
    }
  }
  return from.length * floatsPerBlock * src.numLayers * 2 * Float32Array.BYTES_PER_ELEMENT;
}

function assertSameLayout(a: KvCacheTensors, b: KvCacheTensors): void {
  const shape = (t: KvCacheTensors) => [t.numLayers, t.blockSize, t.numKvHeads, t.headDim].join('×');
  if (shape(a) !== shape(b)) {
    throw new Error(`KV layouts differ: prefill ${shape(a)}, decode ${shape(b)} (layers×block×heads×dim)`);
  }
}
