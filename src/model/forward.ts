/**
 * LlamaModel.forward: one pass of the transformer over a flattened batch of new tokens, reading and
 * writing the paged KV cache, returning logits for the rows the caller asked for.
 *
 * Contract: `forward(batch, kv)` writes the K/V of every new token into `kv` at `batch.slotMapping`
 * and returns Float32Array (batch.logitsRows.length, vocabSize). It keeps no per-sequence state: the
 * cache is the only memory between steps (like a stateless request handler in front of a store),
 * so any scheduler can interleave sequences freely.
 *
 * Read it like llama2.c's forward(): follow one token from its embedding to its logits. Which code runs a
 * matmul (WebAssembly SIMD over worker threads, or the TypeScript reference) is decided once at load time
 * by the kernel backend (kernels/backend.ts); this file only calls methods of that one object, `k`.
 *
 * A pipeline stage (parallel/, engine/pipeline/) runs the same pass over its part of the model only
 * (`loaded.part`: layers [start, end), the embedding on the first stage, the head on the last): it starts
 * from the previous stage's hidden states instead of the embedding, and stops before the head.
 */
import type { ModelConfig } from './checkpoint/config.ts';
import type { ForwardBatch, KvCacheTensors } from './forward-batch.ts';
import {
  DEFAULT_ACTIVATION_RESERVE_BYTES,
  KernelBackend,
  type KernelOptions,
  matrixBytes,
  type PreparedWeights,
  prepareWeights,
  ropeInverseFrequencies,
} from './kernels/index.ts';
import { type LoadProgress, loadModel } from './checkpoint/load-model.ts';
import { type LoadedModel, type ModelPart, wholeModel } from './checkpoint/weights.ts';

/** How to run the model: `threads` (`--threads`), `weightDtype` (`--weight-dtype`), `kernels` ('wasm' | 'ts'). */
export type ModelOptions = KernelOptions & {
  /** Load only this part of the model (a pipeline stage); default: all of it. */
  part?: ModelPart;
  /** Called as the checkpoint's tensors are read (bytes done of total), e.g. to draw a progress bar. */
  onLoadProgress?: (p: LoadProgress) => void;
};

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
  readonly wanted: Float32Array; // (rows, dim) final hidden state of the rows that want logits
  readonly logits: Float32Array; // (rows, vocab)

  /** Buffers come from the kernel backend, so its kernels (and threads) read and write them in place. */
  constructor(
    readonly capacity: number,
    c: ModelConfig,
    alloc: (length: number) => Float32Array,
  ) {
    const qDim = c.numHeads * c.headDim;
    const kvDim = c.numKvHeads * c.headDim;
    this.x = alloc(capacity * c.hiddenSize);
    this.xb = alloc(capacity * c.hiddenSize);
    this.xb2 = alloc(capacity * c.hiddenSize);
    this.q = alloc(capacity * qDim);
    this.k = alloc(capacity * kvDim);
    this.v = alloc(capacity * kvDim);
    this.att = alloc(capacity * qDim);
    this.gate = alloc(capacity * c.intermediateSize);
    this.up = alloc(capacity * c.intermediateSize);
    this.wanted = alloc(capacity * c.hiddenSize);
    this.logits = alloc(capacity * c.vocabSize);
  }
}

/**
 * An upper bound on the arena bytes the activations of passes of up to `tokens` rows take: RunState's
 * buffers at every power-of-two capacity up to the one that holds `tokens` (the arena never frees, so
 * each growth keeps the smaller ones: < 2× the last), plus the backend's scratch of the same order (q8_0
 * activations, RoPE tables, copies of inputs from outside the arena) and 16 MiB to spare.
 */
export function activationBytesFor(c: ModelConfig, tokens: number): number {
  const capacity = 2 ** Math.ceil(Math.log2(Math.max(tokens, 16)));
  const qDim = c.numHeads * c.headDim;
  const kvDim = c.numKvHeads * c.headDim;
  const runStateFloats = 4 * c.hiddenSize + 2 * qDim + 2 * kvDim + 2 * c.intermediateSize + c.vocabSize;
  const scratchFloats = 2 * c.intermediateSize + 2 * c.headDim;
  return 2 * capacity * (runStateFloats + scratchFloats) * 4 + 16 * 2 ** 20;
}

export class LlamaModel {
  readonly config: ModelConfig;
  readonly weights: PreparedWeights;
  readonly dir: string;
  /** The layers (and ends) this instance holds: the whole model unless it is a pipeline stage. */
  readonly part: ModelPart;
  private readonly invFreq: Float32Array; // (headDim/2)
  private state: RunState | null = null;

  /** Without a backend: the TypeScript reference kernels on this thread (for tests and tools). */
  constructor(
    loaded: LoadedModel,
    readonly kernels: KernelBackend = KernelBackend.reference(),
  ) {
    this.config = loaded.config;
    this.weights = prepareWeights(loaded.weights, loaded.config, kernels);
    this.dir = loaded.dir;
    this.part = loaded.part ?? wholeModel(loaded.config);
    this.invFreq = ropeInverseFrequencies(loaded.config.rope, loaded.config.headDim);
  }

  /**
   * Loads a checkpoint with the fast kernels by default: WebAssembly SIMD on `threads` threads (default:
   * the core count), weights in shared memory as f32 or q8_0. Call `close()` to stop the threads.
   */
  static async load(dir: string, options: ModelOptions = {}): Promise<LlamaModel> {
    const loaded = await loadModel(dir, options.part, options.onLoadProgress);
    const dtype = options.weightDtype ?? 'f32';
    const arenaBytes = matrixBytes(loaded.config, dtype, options.part) + (16 << 20);
    const kernels = await KernelBackend.create(options, arenaBytes);
    return new LlamaModel(loaded, kernels);
  }

  /** Stops the kernel worker threads (idempotent). The model must not be used afterwards. */
  close(): Promise<void> {
    return this.kernels.close();
  }

  /**
   * A KV cache for this model, placed where its kernels read it in place (the shared arena of the fast
   * backend, when it fits): prefer it to `allocateKvCacheTensors(model.kvCacheShape(...))`, whose plain
   * buffers work too but leave attention on the TypeScript path.
   */
  allocateKvCache(numBlocks: number, blockSize: number): KvCacheTensors {
    const shape = this.kvCacheShape(numBlocks, blockSize);
    const floatsPerLayer = numBlocks * blockSize * shape.numKvHeads * shape.headDim;
    // Every token of a pass writes its K/V into the cache, so no pass over this cache carries more rows
    // than it has slots: a small cache (a session, a benchmark) needs only that much activation room,
    // which lets it join a nearly full arena (TinyLlama's f32 weights) instead of falling back to TypeScript.
    const reserve = Math.min(
      DEFAULT_ACTIVATION_RESERVE_BYTES,
      activationBytesFor(this.config, numBlocks * blockSize),
    );
    return { ...shape, ...this.kernels.allocKvBuffers(shape.numLayers, floatsPerLayer, reserve) };
  }

  /** The KV cache geometry this model (its part's layers only) needs, for `allocateKvCacheTensors`. */
  kvCacheShape(numBlocks: number, blockSize: number): Omit<KvCacheTensors, 'key' | 'value'> {
    const c = this.config;
    const numLayers = this.part.end - this.part.start;
    return { numBlocks, blockSize, numLayers, numKvHeads: c.numKvHeads, headDim: c.headDim };
  }

  /**
   * Logits (batch.logitsRows.length, vocab). A pipeline stage passes `hidden` (rows, dim) from the previous
   * stage instead of starting from the embedding, and one without the head gets its output hidden states
   * (rows, dim) back instead of logits.
   */
  forward(
    batch: ForwardBatch,
    kv: KvCacheTensors,
    hidden?: Float32Array,
    onLayerDone?: (layer: number) => void,
  ): Float32Array {
    const out = this.forwardInPlace(batch, kv, hidden, onLayerDone);
    return ownCopy(out, out.length); // the caller's own copy: the arena buffer is reused by the next pass
  }

  /**
   * Greedy decoding's forward: the argmax of each wanted row's logits (first on ties, as `argmax`), taken
   * in the kernels' memory (argmax_f32) without copying the (rows, vocab) logits out. Same logits as
   * `forward`, so the same tokens.
   */
  forwardGreedy(batch: ForwardBatch, kv: KvCacheTensors): number[] {
    if (!this.part.head) throw new RangeError('forwardGreedy needs the LM head: this model part has none');
    const logits = this.forwardInPlace(batch, kv);
    const vocab = this.config.vocabSize;
    return Array.from(batch.logitsRows, (_, i) =>
      this.kernels.argmax(logits.subarray(i * vocab, (i + 1) * vocab)),
    );
  }

  /** `forward`'s result as a view of the arena's activation buffers (valid until the next pass). */
  private forwardInPlace(
    batch: ForwardBatch,
    kv: KvCacheTensors,
    hidden?: Float32Array,
    onLayerDone?: (layer: number) => void,
  ): Float32Array {
    const c = this.config;
    const w = this.weights;
    const k = this.kernels; // the one kernel object: every computation below goes through it
    const n = batch.tokenIds.length;
    const dim = c.hiddenSize;
    this.checkInputs(batch, kv, hidden);
    const s = this.runState(n);

    // Embedding: each token's row of the embedding table starts the residual stream (on a later pipeline
    // stage, the previous stage's output does).
    if (hidden) s.x.set(hidden.subarray(0, n * dim));
    else {
      for (let r = 0; r < n; r++) {
        const token = batch.tokenIds[r]!;
        s.x.set(w.embed.subarray(token * dim, (token + 1) * dim), r * dim);
      }
    }
    // Rotation angles of every row's position, shared by all layers.
    const { cos, sin } = k.ropeTables(this.invFreq, batch.positions);

    for (let l = this.part.start; l < this.part.end; l++) {
      const kvl = l - this.part.start; // a stage holds only its layers' weights and KV, counted from 0
      const layer = w.layers[kvl]!;

      // Attention block. Normalize, then project to queries, keys and values (Qwen2 adds a bias).
      k.rmsnorm(s.xb, s.x, layer.attnNorm, n, dim, c.rmsNormEps);
      k.matmuls(s.xb, n, [s.q, layer.wq, layer.bq], [s.k, layer.wk, layer.bk], [s.v, layer.wv, layer.bv]);

      // Rotate queries and keys by their positions, then file the new K/V in their cache slots.
      k.applyRope(s.q, n, c.numHeads, c.headDim, cos, sin);
      k.applyRope(s.k, n, c.numKvHeads, c.headDim, cos, sin);
      k.writeKvSlots(kv, kvl, s.k, s.v, batch.slotMapping);
      // This layer's K/V are final for every row: a layer-wise hand-off can send them while the rest computes.
      onLayerDone?.(l);

      // Each new token attends to its sequence's positions 0..p through the block table.
      k.attention(s.att, s.q, kv, kvl, batch, c.numHeads);

      // Mix the heads back into the residual stream.
      k.matmul(s.xb2, s.att, layer.wo, layer.bo, n);
      k.add(s.x, s.xb2, n * dim);

      // MLP block (SwiGLU): down(silu(gate(x)) · up(x)), added to the residual stream.
      k.rmsnorm(s.xb, s.x, layer.mlpNorm, n, dim, c.rmsNormEps);
      k.matmuls(s.xb, n, [s.gate, layer.wGate, null], [s.up, layer.wUp, null]);
      k.swiglu(s.gate, s.up, n * c.intermediateSize);
      k.matmul(s.xb2, s.gate, layer.wDown, null, n);
      k.add(s.x, s.xb2, n * dim);
    }

    if (!this.part.head) return s.x.subarray(0, n * dim); // hidden states for the next pipeline stage

    // Final norm and LM head, only for the rows whose next-token scores are wanted.
    const m = batch.logitsRows.length;
    for (let i = 0; i < m; i++) {
      const r = batch.logitsRows[i]!;
      s.wanted.set(s.x.subarray(r * dim, (r + 1) * dim), i * dim);
    }
    k.rmsnorm(s.wanted, s.wanted, w.finalNorm, m, dim, c.rmsNormEps);
    k.matmul(s.logits, s.wanted, w.lmHead, null, m);
    return s.logits.subarray(0, m * c.vocabSize); // (m, vocab)
  }

  /** Activation buffers for `rows` token rows, grown in powers of two (the backend never frees memory). */
  private runState(rows: number): RunState {
    if (!this.state || this.state.capacity < rows) {
      const capacity = 2 ** Math.ceil(Math.log2(Math.max(rows, 16)));
      this.state = new RunState(capacity, this.config, (n) => this.kernels.allocF32(n));
    }
    return this.state;
  }

  /** Rejects batches that would read or write outside the model or cache (caller bugs, named clearly). */
  private checkInputs(batch: ForwardBatch, kv: KvCacheTensors, hidden?: Float32Array): void {
    const c = this.config;
    const n = batch.tokenIds.length;
    const numLayers = this.part.end - this.part.start;
    if (hidden ? hidden.length < n * c.hiddenSize : !this.part.embed) {
      throw new RangeError(
        hidden
          ? `hidden states hold ${hidden.length} floats, the batch needs ${n} × ${c.hiddenSize}`
          : `this model part (layers ${this.part.start}..${this.part.end - 1}) has no embedding: pass the previous stage's hidden states`,
      );
    }
    if (kv.numLayers !== numLayers || kv.numKvHeads !== c.numKvHeads || kv.headDim !== c.headDim) {
      throw new RangeError(
        `KV cache is shaped for ${kv.numLayers} layers × ${kv.numKvHeads} KV heads × ${kv.headDim}, ` +
          `model needs ${numLayers} × ${c.numKvHeads} × ${c.headDim}`,
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

/**
 * The first `length` values of an arena buffer in ordinary memory. Not `slice`: on a view of the shared
 * wasm memory it takes a slow copy path (~300 µs for SmolLM2's 49152 logits vs ~90 µs allocated + `set`;
 * docs/engine-speed.md, Q6).
 */
function ownCopy(src: Float32Array, length: number): Float32Array {
  const copy = new Float32Array(length);
  copy.set(src.subarray(0, length));
  return copy;
}
