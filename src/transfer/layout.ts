/**
 * The shape of a KV block pool, as two agents must agree on it before moving bytes: the "memory type and
 * format" half of an RDMA memory registration. A layout mismatch (block size, dtype, KV heads, head dim)
 * is refused with both layouts named, because copying between different layouts succeeds byte for byte
 * and yields silent garbage attention.
 *
 * One layer's K (or V) tensor, as src/model allocates it, is one flat array:
 *
 *     [block 0                                 ][block 1 ] ... [block numBlocks-1]
 *      [pos 0            ][pos 1 ] ... [pos bs-1]
 *       [head 0 ][head 1 ]...
 *        headDim values
 *
 * so block b of a layer is ONE contiguous run of `blockSize · numKvHeads · headDim` values, and a run of
 * consecutive block ids is one contiguous run of bytes: that is what makes a descriptor list cheap to send.
 */
import { LayoutMismatchError } from './errors.ts';

export const KV_DTYPES = ['f32', 'f16', 'bf16'] as const;
export type KvDtype = (typeof KV_DTYPES)[number];

/** Bytes of one value of each dtype. This code base computes in f32; the others exist so peers can say so. */
export const DTYPE_BYTES: Record<KvDtype, number> = { f32: 4, f16: 2, bf16: 2 };

export interface KvLayout {
  numLayers: number;
  /** Tokens per block (Dynamo's `kv_cache_block_size`, default 16). */
  blockSize: number;
  numKvHeads: number;
  headDim: number;
  dtype: KvDtype;
}

/** Bytes of one block in ONE layer's K (or V) tensor. */
export function blockBytesPerTensor(layout: KvLayout): number {
  return layout.blockSize * layout.numKvHeads * layout.headDim * DTYPE_BYTES[layout.dtype];
}

/** Bytes of one block across every layer, K and V: what moving one block costs on the wire. */
export function blockBytes(layout: KvLayout): number {
  return 2 * layout.numLayers * blockBytesPerTensor(layout);
}

/** "30 layers × K/V × [block 16 tokens][3 KV heads][head dim 64] f32 (720 KiB per block)" */
export function describeLayout(layout: KvLayout): string {
  return (
    `${layout.numLayers} layers × K/V × [block ${layout.blockSize} tokens][${layout.numKvHeads} KV heads]` +
    `[head dim ${layout.headDim}] ${layout.dtype} (${blockBytes(layout) / 1024} KiB per block)`
  );
}

/** The fields that must be equal for a block to mean the same thing on both sides. */
const PER_BLOCK_FIELDS = ['blockSize', 'dtype', 'numKvHeads', 'headDim'] as const;

/**
 * Throws LayoutMismatchError naming both layouts and every differing field. The layer COUNT may differ
 * (a transfer names a layer range, e.g. one pipeline stage); the per-block shape may not.
 */
export function checkLayoutsMatch(
  ours: KvLayout,
  theirs: KvLayout,
  names: { ours: string; theirs: string },
): void {
  const differing = PER_BLOCK_FIELDS.filter((f) => ours[f] !== theirs[f]);
  if (differing.length === 0) return;
  const fields = differing.map((f) => `${f} ${ours[f]} vs ${theirs[f]}`).join(', ');
  throw new LayoutMismatchError(
    `KV layouts differ (${fields}): ${names.ours} is ${describeLayout(ours)}; ${names.theirs} is ` +
      `${describeLayout(theirs)}. Both workers must run the same model with the same --block-size and KV dtype; ` +
      'nothing was copied.',
  );
}

/** Plain-data check for a layout read off the wire or out of discovery; returns a message or null. */
export function layoutProblem(value: unknown): string | null {
  if (typeof value !== 'object' || value === null) return 'layout is not an object';
  const l = value as Record<string, unknown>;
  for (const f of ['numLayers', 'blockSize', 'numKvHeads', 'headDim'] as const) {
    const n = l[f];
    if (typeof n !== 'number' || !Number.isInteger(n) || n <= 0)
      return `layout.${f} must be a positive integer`;
  }
  if (!KV_DTYPES.includes(l.dtype as KvDtype)) return `layout.dtype must be one of ${KV_DTYPES.join(', ')}`;
  return null;
}
