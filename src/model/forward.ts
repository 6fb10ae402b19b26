/**
 * LlamaModel.forward: one pass of the transformer over a flattened batch of new tokens, reading and
 * writing the paged KV cache, returning logits for the rows the caller asked for.
 *
 * Contract: `forward(batch, kv)` writes the K/V of every new token into `kv` at `batch.slotMapping`
 * and returns Float32Array (batch.logitsRows.length, vocabSize). It keeps no per-sequence state: the
 * cache is the only memory between steps (like a stateless request handler in front of a store),
 * so any scheduler can interleave sequences freely.
 *
 * Read it like llama2.c's forward(): follow one token from its embedding to its logits.
 */
import type { ModelConfig } from './config.ts';
import type { ForwardBatch, KvCacheTensors } from './forward-batch.ts';
import { pagedAttention, writeKvSlots } from './attention.ts';
import { add, matmul, rmsnorm, swiglu } from './kernels.ts';
import { applyRope, ropeInverseFrequencies, ropeTables } from './rope.ts';
import { type LoadedModel, loadModel, type ModelWeights } from './weights.ts';

/** Activations of one forward pass (llama2.c's RunState), sized for `capacity` token rows. */
class RunState {
  readonly x: Float32Array; // (rows, dim) the residual stream
  readonly xb: Float32Array; // (rows, dim) normalized input of a block
  readonly xb2: Float32Array; // (rows, dim) output of a block, before the residual add
  readonly q: Float32Array; // (rows, numHeads, headDim)
  readonly k: Float32Array; // (rows, numKvHeads, headDim)
  readonly v: Float32Array; // (rows, numKvHeads, headDim)
  readonly att: Float32Array; // (rows, numHeads, headDim) attention output per head
  readonly gate: Float32Array; // (rows, intermediate)
  readonly up: Float32Array; // (rows, intermediate)

  constructor(
    readonly capacity: number,
    c: ModelConfig,
  ) {
    const qDim = c.numHeads * c.headDim;
    const kvDim = c.numKvHeads * c.headDim;
    this.x = new Float32Array(capacity * c.hiddenSize);
    this.xb = new Float32Array(capacity * c.hiddenSize);
    this.xb2 = new Float32Array(capacity * c.hiddenSize);
    this.q = new Float32Array(capacity * qDim);
    this.k = new Float32Array(capacity * kvDim);
    this.v = new Float32Array(capacity * kvDim);
    this.att = new Float32Array(capacity * qDim);
    this.gate = new Float32Array(capacity * c.intermediateSize);
    this.up = new Float32Array(capacity * c.intermediateSize);
  }
}

export class LlamaModel {
  readonly config: ModelConfig;
  readonly weights: ModelWeights;
  readonly dir: string;
  private readonly invFreq: Float32Array; // (headDim/2)
  private state: RunState | null = null;

  constructor(loaded: LoadedModel) {
    this.config = loaded.config;
    this.weights = loaded.weights;
    this.dir = loaded.dir;
    this.invFreq = ropeInverseFrequencies(loaded.config.rope, loaded.config.headDim);
  }

  static async load(dir: string): Promise<LlamaModel> {
    return new LlamaModel(await loadModel(dir));
  }

  /** The KV cache geometry this model needs, for `allocateKvCacheTensors`. */
  kvCacheShape(numBlocks: number, blockSize: number): Omit<KvCacheTensors, 'key' | 'value'> {
    const c = this.config;
    return { numBlocks, blockSize, numLayers: c.numLayers, numKvHeads: c.numKvHeads, headDim: c.headDim };
  }

  forward(batch: ForwardBatch, kv: KvCacheTensors): Float32Array {
    const c = this.config;
    const w = this.weights;
    const n = batch.tokenIds.length;
    const dim = c.hiddenSize;
    const qDim = c.numHeads * c.headDim;
    const kvDim = c.numKvHeads * c.headDim;
    this.checkInputs(batch, kv);
    const s = this.runState(n);

    // Embedding: each token's row of the embedding table starts the residual stream.
    for (let r = 0; r < n; r++) {
      const token = batch.tokenIds[r]!;
      s.x.set(w.embed.subarray(token * dim, (token + 1) * dim), r * dim);
    }
    // Rotation angles of every row's position, shared by all layers.
    const { cos, sin } = ropeTables(this.invFreq, batch.positions);

    for (let l = 0; l < c.numLayers; l++) {
      const layer = w.layers[l]!;

      // Attention block. Normalize, then project to queries, keys and values (Qwen2 adds a bias).
      rmsnorm(s.xb, s.x, layer.attnNorm, n, dim, c.rmsNormEps);
      matmul(s.q, s.xb, layer.wq, layer.bq, n, dim, qDim);
      matmul(s.k, s.xb, layer.wk, layer.bk, n, dim, kvDim);
      matmul(s.v, s.xb, layer.wv, layer.bv, n, dim, kvDim);

      // Rotate queries and keys by their positions, then file the new K/V in their cache slots.
      applyRope(s.q, n, c.numHeads, c.headDim, cos, sin);
      applyRope(s.k, n, c.numKvHeads, c.headDim, cos, sin);
      writeKvSlots(kv, l, s.k, s.v, batch.slotMapping);

      // Each new token attends to its sequence's positions 0..p through the block table.
      pagedAttention(s.att, s.q, kv, l, batch, c.numHeads);

      // Mix the heads back into the residual stream.
      matmul(s.xb2, s.att, layer.wo, layer.bo, n, qDim, dim);
      add(s.x, s.xb2, n * dim);

      // MLP block (SwiGLU): down(silu(gate(x)) · up(x)), added to the residual stream.
      rmsnorm(s.xb, s.x, layer.mlpNorm, n, dim, c.rmsNormEps);
      matmul(s.gate, s.xb, layer.wGate, null, n, dim, c.intermediateSize);
      matmul(s.up, s.xb, layer.wUp, null, n, dim, c.intermediateSize);
      swiglu(s.gate, s.up, n * c.intermediateSize);
      matmul(s.xb2, s.gate, layer.wDown, null, n, c.intermediateSize, dim);
      add(s.x, s.xb2, n * dim);
    }

    // Final norm and LM head, only for the rows whose next-token scores are wanted.
    const m = batch.logitsRows.length;
    const wanted = new Float32Array(m * dim); // (m, dim)
    for (let i = 0; i < m; i++) {
      const r = batch.logitsRows[i]!;
      wanted.set(s.x.subarray(r * dim, (r + 1) * dim), i * dim);
    }
    rmsnorm(wanted, wanted, w.finalNorm, m, dim, c.rmsNormEps);
    const logits = new Float32Array(m * c.vocabSize); // (m, vocab)
    matmul(logits, wanted, w.lmHead, null, m, dim, c.vocabSize);
    return logits;
  }

  private runState(rows: number): RunState {
    if (!this.state || this.state.capacity < rows) this.state = new RunState(Math.max(rows, 16), this.config);
    return this.state;
  }

  /** Rejects batches that would read or write outside the model or cache (caller bugs, named clearly). */
  private checkInputs(batch: ForwardBatch, kv: KvCacheTensors): void {
    const c = this.config;
    const n = batch.tokenIds.length;
    if (kv.numLayers !== c.numLayers || kv.numKvHeads !== c.numKvHeads || kv.headDim !== c.headDim) {
      throw new RangeError(
        `KV cache is shaped for ${kv.numLayers} layers × ${kv.numKvHeads} KV heads × ${kv.headDim}, ` +
          `model needs ${c.numLayers} × ${c.numKvHeads} × ${c.headDim}`,
      );
    }
    if (batch.positions.length !== n || batch.slotMapping.length !== n) {
      throw new RangeError(
        `batch has ${n} tokens but ${batch.positions.length} positions / ${batch.slotMapping.length} slots`,
      );
    }
    for (let r = 0; r < n; r++) {
      const token = batch.tokenIds[r]!;
      if (token < 0 || token >= c.vocabSize)
        throw new RangeError(`token id ${token} at row ${r} is outside the vocabulary (${c.vocabSize})`);
    }
    for (const r of batch.logitsRows) {
      if (r < 0 || r >= n) throw new RangeError(`logits row ${r} is outside the batch (${n} rows)`);
    }
  }
}
