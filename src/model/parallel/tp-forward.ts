/**
 * TpRankModel.forward: one tensor-parallel rank's pass over a batch. It reads like forward.ts, top to
 * bottom, with the same kernel object `k`; what differs is that this rank has only its heads and MLP
 * columns, and the two row-parallel products of each layer end with an all-reduce (Megatron-LM's f/g):
 *
 *   x (replicated) ─ norm ─ q/k/v (my heads) ─ RoPE ─ KV write (my KV heads) ─ attention (my heads)
 *     ─ o (my columns: a partial sum) ─ ALL-REDUCE ─ + x ─ norm ─ gate/up (my columns) ─ SwiGLU
 *     ─ down (my rows: a partial sum) ─ ALL-REDUCE ─ + x
 *
 * After each all-reduce every rank holds the same residual stream, so norms and the embedding need no
 * communication. Rank 0 alone computes the (replicated) LM head and returns logits; the others return an
 * empty array. The KV cache a rank is given holds only its KV heads: same block ids on every rank.
 */
import type { ModelConfig } from '../checkpoint/config.ts';
import { loadModel } from '../checkpoint/load-model.ts';
import type { ForwardBatch, KvCacheTensors } from '../forward-batch.ts';
import {
  KernelBackend,
  type KernelOptions,
  matrixBytes,
  type PreparedWeights,
  prepareWeights,
  ropeInverseFrequencies,
  ropeTables,
} from '../kernels/index.ts';
import type { AllReduce } from './all-reduce.ts';
import { shardConfig, shardWeights } from './shard-weights.ts';
import { type RankShard, rankShard } from './tp-plan.ts';

/** One rank's activations, sized by its shard (heads, KV heads, MLP columns are local counts). */
class RankRunState {
  readonly x: Float32Array; // (rows, dim) the residual stream, the same on every rank
  readonly xb: Float32Array; // (rows, dim) normalized input of a block
  readonly xb2: Float32Array; // (rows, dim) this rank's partial block output, then the all-reduced sum
  readonly q: Float32Array; // (rows, localHeads, headDim)
  readonly k: Float32Array; // (rows, localKvHeads, headDim)
  readonly v: Float32Array; // (rows, localKvHeads, headDim)
  readonly att: Float32Array; // (rows, localHeads, headDim)
  readonly gate: Float32Array; // (rows, localIntermediate)
  readonly up: Float32Array; // (rows, localIntermediate)
  readonly wanted: Float32Array; // (rows, dim)
  readonly logits: Float32Array; // (rows, vocab), rank 0 only

  constructor(
    readonly capacity: number,
    local: ModelConfig,
    withLogits: boolean,
    alloc: (length: number) => Float32Array,
  ) {
    const dim = local.hiddenSize;
    this.x = alloc(capacity * dim);
    this.xb = alloc(capacity * dim);
    this.xb2 = alloc(capacity * dim);
    this.q = alloc(capacity * local.numHeads * local.headDim);
    this.k = alloc(capacity * local.numKvHeads * local.headDim);
    this.v = alloc(capacity * local.numKvHeads * local.headDim);
    this.att = alloc(capacity * local.numHeads * local.headDim);
    this.gate = alloc(capacity * local.intermediateSize);
    this.up = alloc(capacity * local.intermediateSize);
    this.wanted = alloc(capacity * dim);
    this.logits = withLogits ? alloc(capacity * local.vocabSize) : new Float32Array(0);
  }
}

export class TpRankModel {
  /** The rank's view: local head / KV-head / MLP counts. */
  readonly local: ModelConfig;
  private readonly invFreq: Float32Array;
  private state: RankRunState | null = null;

  constructor(
    readonly config: ModelConfig,
    readonly shard: RankShard,
    readonly weights: PreparedWeights,
    readonly kernels: KernelBackend,
    readonly comm: AllReduce,
  ) {
    this.local = shardConfig(config, shard);
    this.invFreq = ropeInverseFrequencies(config.rope, config.headDim);
  }

  /** Reads the checkpoint, keeps this rank's shard (the rest is dropped), places it for the kernels. */
  static async load(
    dir: string,
    rank: number,
    comm: AllReduce,
    options: KernelOptions = {},
  ): Promise<TpRankModel> {
    const full = await loadModel(dir);
    const shard = rankShard(full.config, rank, comm.size);
    const mine = shardWeights(full, shard);
    const dtype = options.weightDtype ?? 'f32';
    const kernels = await KernelBackend.create(options, matrixBytes(mine.config, dtype) + (16 << 20));
    return new TpRankModel(
      full.config,
      shard,
      prepareWeights(mine.weights, mine.config, kernels),
      kernels,
      comm,
    );
  }

  /** This rank's shard of the paged cache: every block id, only this rank's KV heads. */
  allocateKvCache(numBlocks: number, blockSize: number): KvCacheTensors {
    const l = this.local;
    const shape = {
      numBlocks,
      blockSize,
      numLayers: l.numLayers,
      numKvHeads: l.numKvHeads,
      headDim: l.headDim,
    };
    const floatsPerLayer = numBlocks * blockSize * l.numKvHeads * l.headDim;
    return { ...shape, ...this.kernels.allocKvBuffers(l.numLayers, floatsPerLayer) };
  }

  async forward(batch: ForwardBatch, kv: KvCacheTensors): Promise<Float32Array> {
    const c = this.local;
    const w = this.weights;
    const k = this.kernels;
    const comm = this.comm;
    const n = batch.tokenIds.length;
    const dim = c.hiddenSize;
    this.checkInputs(batch, kv);
    const s = this.runState(n);

    // Embedding (replicated): every rank starts the same residual stream.
    for (let r = 0; r < n; r++) {
      const token = batch.tokenIds[r]!;
      s.x.set(w.embed.subarray(token * dim, (token + 1) * dim), r * dim);
    }
    const { cos, sin } = ropeTables(this.invFreq, batch.positions);

    for (let l = 0; l < c.numLayers; l++) {
      const layer = w.layers[l]!;

      // Attention block over this rank's heads (column-parallel q/k/v: no communication).
      k.rmsnorm(s.xb, s.x, layer.attnNorm, n, dim, c.rmsNormEps);
      k.matmuls(s.xb, n, [s.q, layer.wq, layer.bq], [s.k, layer.wk, layer.bk], [s.v, layer.wv, layer.bv]);
      k.applyRope(s.q, n, c.numHeads, c.headDim, cos, sin);
      k.applyRope(s.k, n, c.numKvHeads, c.headDim, cos, sin);
      k.writeKvSlots(kv, l, s.k, s.v, batch.slotMapping);
      k.attention(s.att, s.q, kv, l, batch, c.numHeads);

      // Row-parallel o: this rank's heads' share of the output, summed over ranks, then the residual.
      k.matmul(s.xb2, s.att, layer.wo, layer.bo, n);
      await comm.allReduce(s.xb2, n * dim);
      k.add(s.x, s.xb2, n * dim);

      // MLP block: gate/up column-parallel, SwiGLU on my columns, row-parallel down, all-reduce.
      k.rmsnorm(s.xb, s.x, layer.mlpNorm, n, dim, c.rmsNormEps);
      k.matmuls(s.xb, n, [s.gate, layer.wGate, null], [s.up, layer.wUp, null]);
      k.swiglu(s.gate, s.up, n * c.intermediateSize);
      k.matmul(s.xb2, s.gate, layer.wDown, null, n);
      await comm.allReduce(s.xb2, n * dim);
      k.add(s.x, s.xb2, n * dim);
    }

    // Final norm and the LM head: rank 0 only (the hidden state is the same everywhere).
    if (this.shard.rank !== 0) return new Float32Array(0);
    const m = batch.logitsRows.length;
    for (let i = 0; i < m; i++) {
      const r = batch.logitsRows[i]!;
      s.wanted.set(s.x.subarray(r * dim, (r + 1) * dim), i * dim);
    }
    k.rmsnorm(s.wanted, s.wanted, w.finalNorm, m, dim, c.rmsNormEps);
    k.matmul(s.logits, s.wanted, w.lmHead, null, m);
    return s.logits.slice(0, m * c.vocabSize);
  }

  close(): Promise<void> {
    this.comm.close();
    return this.kernels.close();
  }

  private runState(rows: number): RankRunState {
    if (!this.state || this.state.capacity < rows) {
      const capacity = 2 ** Math.ceil(Math.log2(Math.max(rows, 16)));
      this.state = new RankRunState(capacity, this.local, this.shard.rank === 0, (n) =>
        this.kernels.allocF32(n),
      );
    }
    return this.state;
  }

  /** Rejects batches that would read or write outside the model or this rank's cache (caller bugs). */
  checkInputs(batch: ForwardBatch, kv: KvCacheTensors): void {
    const c = this.local;
    if (kv.numLayers !== c.numLayers || kv.numKvHeads !== c.numKvHeads || kv.headDim !== c.headDim)
      throw new RangeError(
        `KV cache shard is shaped for ${kv.numLayers} × ${kv.numKvHeads} × ${kv.headDim}, ` +
          `rank ${this.shard.rank} needs ${c.numLayers} × ${c.numKvHeads} × ${c.headDim}`,
      );
    const n = batch.tokenIds.length;
    if (batch.positions.length !== n || batch.slotMapping.length !== n)
      throw new RangeError(
        `batch has ${n} tokens but ${batch.positions.length} positions / ${batch.slotMapping.length} slots`,
      );
    for (let r = 0; r < n; r++) {
      const t = batch.tokenIds[r]!;
      if (t < 0 || t >= c.vocabSize)
        throw new RangeError(`token id ${t} at row ${r} is outside the vocabulary`);
    }
  }
}
