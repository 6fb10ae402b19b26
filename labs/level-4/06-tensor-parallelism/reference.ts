/**
 * Lab 4.6's exercise, solved: what tensor parallelism costs on the wire, and which sizes a model allows.
 * (`npm run lab -- 4.6 --check --reference`.) The file imports nothing, so a copy works anywhere.
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

/** Bytes all-reduced per token: two all-reduces per layer (after o_proj and after down_proj) of one hidden row. */
export function allReduceBytesPerToken(shape: TpShape): number {
  return 2 * shape.numLayers * shape.hiddenSize * shape.bytesPerValue;
}

/** One ring all-reduce of `bytes` over `ranks`: 2(N−1) steps, each moving bytes/N and paying the latency once. */
export function ringAllReduceMs(bytes: number, ranks: number, link: Link): number {
  if (ranks <= 1) return 0;
  const stepMs = link.latencyUs / 1000 + (((bytes / ranks) * 8) / (link.gigabitsPerSecond * 1e9)) * 1000;
  return 2 * (ranks - 1) * stepMs;
}

/** Sizes ≤ upTo that split the heads evenly and either split the KV heads or replicate each evenly. */
export function legalTpSizes(numHeads: number, numKvHeads: number, upTo: number): number[] {
  const sizes: number[] = [];
  for (let n = 1; n <= upTo; n++) {
    if (numHeads % n !== 0) continue;
    if (numKvHeads % n === 0 || n % numKvHeads === 0) sizes.push(n);
  }
  return sizes;
}
