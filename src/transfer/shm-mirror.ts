/**
 * The staged mirror of a region: a file in /dev/shm holding copies of the blocks the owner staged, laid out
 * BLOCK-MAJOR so that one block (every layer, K and V) is one contiguous range of the file:
 *
 *   offset(block b, layer l, K=0|V=1) = ((b · numLayers + l) · 2 + kv) · bytes per block per tensor
 *
 * A reader pulls block b with ONE preadv(2) whose iovecs are its own per-layer destination blocks (60 for
 * SmolLM2-135M), however scattered the owner's block ids are; consecutive ids merge into longer runs. The
 * wire order (layer-major, blocks in list order) of the other backends is only a view order here: the
 * reader maps each of its views to the file by arithmetic, so nothing but block ids crosses the socket.
 */
import { blockBytesPerTensor, type KvLayout } from './layout.ts';
import type { LayerRange } from './region.ts';
import { type FileRun, MAX_VIEWS_PER_RUN, mergeRun } from './file-runs.ts';
import { TransferProtocolError } from './errors.ts';

/** File offset of (block, first layer of the range, K). */
export function mirrorPosition(layout: KvLayout, block: number, layer: number): number {
  return (block * layout.numLayers + layer) * 2 * blockBytesPerTensor(layout);
}

/**
 * The runs that fill `local` (views in wire order: layer by layer, K then V, blocks in list order, runs
 * of blocks merged) from a mirror holding `remoteBlockIds`. Each local view is cut into per-block pieces
 * (subarrays: no copy) and regrouped per remote block.
 */
export function mirrorReadRuns(
  layout: KvLayout,
  layers: LayerRange,
  remoteBlockIds: readonly number[],
  local: readonly Uint8Array[],
): FileRun[] {
  const per = blockBytesPerTensor(layout);
  const tensors = (layers.end - layers.start) * 2;
  const n = remoteBlockIds.length;
  if (tensors > MAX_VIEWS_PER_RUN)
    throw new RangeError(`${tensors} layer tensors per block exceed one preadv (${MAX_VIEWS_PER_RUN})`);
  // pieces[t * n + i]: tensor t (layer-major, K then V) of the i-th block in the list.
  const pieces: Uint8Array[] = new Array(tensors * n);
  let k = 0;
  for (const view of local) {
    if (view.byteLength % per !== 0)
      throw new TransferProtocolError(
        `a local view of ${view.byteLength} bytes is not whole blocks of ${per}`,
      );
    for (let at = 0; at < view.byteLength; at += per) pieces[k++] = view.subarray(at, at + per);
  }
  if (k !== tensors * n)
    throw new TransferProtocolError(`local views hold ${k} block tensors, the request names ${tensors * n}`);
  const runs: FileRun[] = [];
  for (let i = 0; i < n; i++) {
    const views: Uint8Array[] = new Array(tensors);
    for (let t = 0; t < tensors; t++) views[t] = pieces[t * n + i] as Uint8Array;
    const position = mirrorPosition(layout, remoteBlockIds[i] as number, layers.start);
    // Whole-block ranges of consecutive ids are adjacent in the file: one longer preadv.
    if (tensors === layout.numLayers * 2) mergeRun(runs, { position, views });
    else runs.push({ position, views });
  }
  return runs;
}
