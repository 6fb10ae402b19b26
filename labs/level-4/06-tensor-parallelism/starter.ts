/**
 * Lab 4.6's exercise: predict what tensor parallelism puts on the wire before measuring it, and which group
 * sizes a model allows. Like sizing a replication link: bytes per operation, operations per second, and the
 * link's latency and bandwidth.
 *
 *   cp labs/level-4/06-tensor-parallelism/starter.ts my-tp.ts
 *   npm run lab -- 4.6 --check ./my-tp.ts     # published-figure cases, then this machine's ring
 *
 * The file imports nothing, so a copy works anywhere.
 */

/** What decides the all-reduce payload: the residual stream's width, the layer count, the dtype. */
export interface TpShape {
  numLayers: number;
  hiddenSize: number;
  /** 2 for bf16/fp16 (GPU engines), 4 for f32 (ours). */
  bytesPerValue: number;
}

/** A link as it is sold: bandwidth in gigaBITS per second, one-way latency in microseconds. */
export interface Link {
  gigabitsPerSecond: number;
  latencyUs: number;
}

/** Bytes all-reduced per token, summed over the layers. */
export function allReduceBytesPerToken(shape: TpShape): number {
  // TODO 1: how many all-reduces does ONE layer need (look at which projections are row-parallel)?
  return shape.numLayers * shape.hiddenSize * shape.bytesPerValue;
}

/** Milliseconds for one ring all-reduce of `bytes` over `ranks` ranks. */
export function ringAllReduceMs(bytes: number, ranks: number, link: Link): number {
  // TODO 2: a ring all-reduce is a reduce-scatter then an all-gather; how many steps, how many bytes each?
  // And the link is sold in gigaBITS per second.
  if (ranks <= 1) return 0; // one rank has nobody to talk to
  return link.latencyUs / 1000 + (bytes / (link.gigabitsPerSecond * 1e9)) * 1000;
}

/** Tensor-parallel sizes from 1 to upTo that this attention shape allows. */
export function legalTpSizes(numHeads: number, numKvHeads: number, upTo: number): number[] {
  // TODO 3: the KV heads must split evenly too, OR each KV head be replicated on a whole number of ranks.
  const sizes: number[] = [];
  for (let n = 1; n <= upTo; n++) if (numHeads % n === 0 && numKvHeads > 0) sizes.push(n);
  return sizes;
}
