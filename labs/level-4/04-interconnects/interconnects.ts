/**
 * Lab 4.4's reference figures: real interconnects as their vendors and standards sell them, and the KV shapes
 * of real models as their config.json files give them. Every number carries its source; a latency nobody
 * publishes for that exact path is marked `assumed` and says what it rests on. docs/interconnects.md prints
 * the same table with links. Like a spec sheet pinned above the bench: the lab measures, this predicts.
 *
 * Bandwidth is ONE direction, in Gbit/s, because that is what a KV pull uses (decode reads from prefill).
 * NVIDIA quotes NVLink and PCIe "total" figures that add both directions; we halve them and say so.
 */

export interface Interconnect {
  name: string;
  /** What moves the bytes: a CPU's kernel TCP stack, an RDMA NIC, or a GPU's own copy engines. */
  path: 'kernel TCP' | 'RDMA' | 'GPU load/store';
  /** One direction, Gbit/s (a data rate after line coding, as the standard or vendor states it). */
  gbitPerSecond: number;
  /** One-way latency of a small message, microseconds. */
  latencyUs: number;
  /** Whether latencyUs is a published figure or an order-of-magnitude assumption (and on what). */
  latencyBasis: string;
  /** Where the bandwidth (and latency, when sourced) comes from. */
  source: string;
}

export const INTERCONNECTS: Interconnect[] = [
  {
    name: '10 GbE (kernel TCP)',
    path: 'kernel TCP',
    gbitPerSecond: 10,
    latencyUs: 30,
    latencyBasis: 'assumed: tens of µs through two kernel stacks; 1 GbE NICs measured 55–110 µs one way',
    source:
      'IEEE 802.3ae (10 Gbit/s); latency: serverfault.com/questions/791539 (110–220 µs TCP round trips, 1 GbE)',
  },
  {
    name: '25 GbE (kernel TCP)',
    path: 'kernel TCP',
    gbitPerSecond: 25,
    latencyUs: 20,
    latencyBasis:
      'assumed: as 10 GbE, the stack dominates; Mellanox quotes 30–40 µs for CPU-driven communication',
    source: 'IEEE 802.3by (25 Gbit/s); latency: Mellanox, "InfiniBand In-Network Computing" (2019), slide 4',
  },
  {
    name: '100 GbE (kernel TCP)',
    path: 'kernel TCP',
    gbitPerSecond: 100,
    latencyUs: 15,
    latencyBasis: 'assumed: serialization shrinks, the kernel stack does not',
    source: 'IEEE 802.3ba / 802.3bj (100 Gbit/s)',
  },
  {
    name: '100 Gb/s RoCE v2 (ConnectX-6 Dx)',
    path: 'RDMA',
    gbitPerSecond: 100,
    latencyUs: 0.8,
    latencyBasis: 'published: "sub 0.8 µs" adapter latency (ConnectX-6 EN product brief)',
    source: 'NVIDIA ConnectX-6 EN product brief (200/100 GbE, sub-0.8 µs, 215 M msg/s)',
  },
  {
    name: '200 Gb/s RoCE v2 (ConnectX-6)',
    path: 'RDMA',
    gbitPerSecond: 200,
    latencyUs: 0.8,
    latencyBasis: 'published: "sub 0.8 µs" (ConnectX-6 EN product brief)',
    source: 'NVIDIA ConnectX-6 EN product brief',
  },
  {
    name: '400 Gb/s RoCE v2 (ConnectX-7)',
    path: 'RDMA',
    gbitPerSecond: 400,
    latencyUs: 1,
    latencyBasis: 'assumed: ConnectX-6 figure plus a switch hop; NVIDIA publishes no ConnectX-7 latency',
    source: 'NVIDIA ConnectX-7 user manual, "Introduction" (NDR 400 Gb/s and 400 GbE ports)',
  },
  {
    name: 'InfiniBand HDR100 (100 Gb/s)',
    path: 'RDMA',
    gbitPerSecond: 100,
    latencyUs: 0.6,
    latencyBasis: 'published: "sub-600 ns" adapter latency (ConnectX-6 VPI user manual)',
    source: 'ConnectX-6 VPI user manual: HDR100 = 2 lanes × 53.125 Gb/s, 64b/66b → 100 Gb/s',
  },
  {
    name: 'InfiniBand HDR (200 Gb/s)',
    path: 'RDMA',
    gbitPerSecond: 200,
    latencyUs: 0.6,
    latencyBasis: 'published: "sub-600 ns" (ConnectX-6 VPI user manual)',
    source: 'NVIDIA ConnectX-6 VPI user manual, "Introduction" (200 Gb/s InfiniBand, sub-600 ns)',
  },
  {
    name: 'InfiniBand NDR (400 Gb/s)',
    path: 'RDMA',
    gbitPerSecond: 400,
    latencyUs: 0.6,
    latencyBasis: 'assumed: the HDR adapter figure; NVIDIA publishes no ConnectX-7 latency',
    source: 'NVIDIA ConnectX-7 user manual, "Introduction" (single-port NDR 400 Gb/s)',
  },
  {
    name: 'PCIe 4.0 x16',
    path: 'GPU load/store',
    gbitPerSecond: 252,
    latencyUs: 1,
    latencyBasis: 'assumed: about a microsecond for a host↔device round trip through the root complex',
    source:
      'PCI-SIG: 16 GT/s per lane, 128b/130b; 64 GB/s total = 31.5 GB/s each way (A100 datasheet: "PCIe Gen4 64 GB/s")',
  },
  {
    name: 'PCIe 5.0 x16',
    path: 'GPU load/store',
    gbitPerSecond: 504,
    latencyUs: 1,
    latencyBasis: 'assumed: as PCIe 4.0',
    source:
      'PCI-SIG PCIe 5.0 spec (32 GT/s, "up to 128 GB/s via x16" = 63 GB/s each way); H100 datasheet "PCIe Gen5 128 GB/s"',
  },
  {
    name: 'NVLink 3 (A100, 12 links)',
    path: 'GPU load/store',
    gbitPerSecond: 2400,
    latencyUs: 1,
    latencyBasis: 'assumed: NVIDIA publishes no NVLink latency; about a microsecond GPU to GPU',
    source:
      'nvidia.com/data-center/nvlink: A100 has 12 third-generation links, 600 GB/s total = 300 GB/s each way',
  },
  {
    name: 'NVLink 4 (H100 SXM, 18 links)',
    path: 'GPU load/store',
    gbitPerSecond: 3600,
    latencyUs: 1,
    latencyBasis: 'assumed: as NVLink 3',
    source: 'NVIDIA H100 datasheet: "NVLink 900 GB/s" (18 links, both directions) = 450 GB/s each way',
  },
];

/** A model's KV cache shape, from its config.json (head dim = hidden_size / num_attention_heads). */
export interface ModelKvShape {
  name: string;
  numLayers: number;
  numKvHeads: number;
  headDim: number;
  /** 2 for bf16 (what GPU engines store), 4 for f32 (what our engine stores). */
  bytesPerValue: number;
  source: string;
}

export const MODEL_SHAPES: ModelKvShape[] = [
  {
    name: 'SmolLM2-135M (f32, our engine)',
    numLayers: 30,
    numKvHeads: 3,
    headDim: 64,
    bytesPerValue: 4,
    source:
      'huggingface.co/HuggingFaceTB/SmolLM2-135M config.json: 30 layers, 9 heads, 3 KV heads, hidden 576',
  },
  {
    name: 'Llama-3-8B (bf16)',
    numLayers: 32,
    numKvHeads: 8,
    headDim: 128,
    bytesPerValue: 2,
    source:
      'huggingface.co/meta-llama/Meta-Llama-3-8B config.json: 32 layers, 32 heads, 8 KV heads, hidden 4096',
  },
  {
    name: 'Llama-3-70B (bf16)',
    numLayers: 80,
    numKvHeads: 8,
    headDim: 128,
    bytesPerValue: 2,
    source:
      'huggingface.co/meta-llama/Meta-Llama-3-70B config.json: 80 layers, 64 heads, 8 KV heads, hidden 8192',
  },
];

/** 2 (K and V) × layers × KV heads × head dim × bytes per value. */
export function kvBytesPerToken(shape: ModelKvShape): number {
  return 2 * shape.numLayers * shape.numKvHeads * shape.headDim * shape.bytesPerValue;
}

/** Whole 16-token blocks move, as in lab 4.1: ceil(tokens / 16) × 16 × bytes per token. */
export function kvBytesForPrompt(shape: ModelKvShape, tokens: number, blockSize = 16): number {
  return Math.ceil(tokens / blockSize) * blockSize * kvBytesPerToken(shape);
}
