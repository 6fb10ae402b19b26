/**
 * A registered memory region: a worker's KV block pool, as an RDMA NIC sees registered memory — a name,
 * a layout and the bytes behind it — plus the one operation the transfer engine needs from it: turn a
 * descriptor (layer range, block ids) into the list of byte views to send from or receive into.
 *
 * The tensors are the worker's own arrays; the agent never copies or owns them (like `ibv_reg_mr`, which
 * pins memory the application keeps). src/model's `KvCacheTensors` maps onto this directly:
 * `layers[l] = { k: kv.key[l], v: kv.value[l] }`.
 */
import { BlockRangeError } from './errors.ts';
import { blockBytesPerTensor, type KvLayout } from './layout.ts';

/** One layer's K or V tensor: [block][position in block][kv head][head dim], any typed array over it. */
export type KvTensor = ArrayBufferView;

export interface KvRegion {
  /** Unique per agent, e.g. "kv". Peers name it in descriptor lists. */
  name: string;
  layout: KvLayout;
  numBlocks: number;
  /** layers[l].k / .v: one tensor each, `numBlocks · blockBytesPerTensor(layout)` bytes. */
  layers: readonly { k: KvTensor; v: KvTensor }[];
}

/** What an agent publishes about a region: everything but the bytes. */
export interface RegionInfo {
  name: string;
  layout: KvLayout;
  numBlocks: number;
}

/** Layers [start, end). A transfer may move a subset (one pipeline stage, or layer-by-layer streaming). */
export interface LayerRange {
  start: number;
  end: number;
}

export function regionInfo(region: KvRegion): RegionInfo {
  return { name: region.name, layout: { ...region.layout }, numBlocks: region.numBlocks };
}

/** Throws RangeError naming the first tensor whose size does not fit the layout (a caller's bug). */
export function checkRegion(region: KvRegion): void {
  const { layout } = region;
  if (!Number.isInteger(region.numBlocks) || region.numBlocks <= 0)
    throw new RangeError(
      `region "${region.name}": numBlocks must be a positive integer, got ${region.numBlocks}`,
    );
  if (region.layers.length !== layout.numLayers)
    throw new RangeError(
      `region "${region.name}": layout says ${layout.numLayers} layers, ${region.layers.length} tensors pairs given`,
    );
  const expected = region.numBlocks * blockBytesPerTensor(layout);
  region.layers.forEach(({ k, v }, l) => {
    for (const [kind, tensor] of [['K', k] as const, ['V', v] as const]) {
      if (tensor.byteLength !== expected)
        throw new RangeError(
          `region "${region.name}" layer ${l} ${kind}: ${tensor.byteLength} bytes, expected ${expected} ` +
            `(${region.numBlocks} blocks × ${blockBytesPerTensor(layout)} bytes per block)`,
        );
    }
  });
}

export function allLayers(layout: KvLayout): LayerRange {
  return { start: 0, end: layout.numLayers };
}

/** Throws BlockRangeError unless every block id and the layer range lie inside the region. */
export function checkDescriptor(
  info: RegionInfo,
  layers: LayerRange,
  blockIds: readonly number[],
  whose: string,
): void {
  const { numLayers } = info.layout;
  if (
    !Number.isInteger(layers.start) ||
    !Number.isInteger(layers.end) ||
    layers.start < 0 ||
    layers.end > numLayers ||
    layers.start >= layers.end
  )
    throw new BlockRangeError(
      `layer range [${layers.start}, ${layers.end}) is outside ${whose} region "${info.name}" (${numLayers} layers). ` +
        'Check the layer range of the descriptor list.',
    );
  for (const id of blockIds) {
    if (!Number.isInteger(id) || id < 0 || id >= info.numBlocks)
      throw new BlockRangeError(
        `block id ${id} is outside ${whose} region "${info.name}" (blocks 0..${info.numBlocks - 1}). ` +
          "Check that the block ids come from that worker's own block table and that its pool has not shrunk.",
      );
  }
}

/** Bytes a descriptor moves: blocks × layers × K/V × bytes per block per tensor. */
export function descriptorBytes(layout: KvLayout, layers: LayerRange, numBlockIds: number): number {
  return numBlockIds * (layers.end - layers.start) * 2 * blockBytesPerTensor(layout);
}

function bytesOf(tensor: KvTensor): Uint8Array {
  return new Uint8Array(tensor.buffer, tensor.byteOffset, tensor.byteLength);
}

/**
 * The byte views a descriptor covers, in WIRE ORDER: layer by layer, K before V, blocks in list order.
 * Consecutive ids (7, 8, 9) merge into one view, so a typical contiguous allocation is 2 views per layer
 * (one scatter/gather element each for writev), not 2 per block. The views alias the region: no copy.
 */
export function blockViews(region: KvRegion, layers: LayerRange, blockIds: readonly number[]): Uint8Array[] {
  const per = blockBytesPerTensor(region.layout);
  const views: Uint8Array[] = [];
  for (let l = layers.start; l < layers.end; l++) {
    const pair = region.layers[l] as { k: KvTensor; v: KvTensor };
    for (const tensor of [pair.k, pair.v]) {
      const bytes = bytesOf(tensor);
      let i = 0;
      while (i < blockIds.length) {
        const first = blockIds[i] as number;
        let run = 1;
        while (i + run < blockIds.length && blockIds[i + run] === first + run) run++;
        views.push(bytes.subarray(first * per, (first + run) * per));
        i += run;
      }
    }
  }
  return views;
}
