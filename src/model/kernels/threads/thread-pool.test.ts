/**
 * The kernel thread pool: the same results on 1 and 2 threads, a clean shutdown, and no worker that keeps
 * the process alive when a model is never closed.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { defaultModelDir } from '../../../util/paths.ts';
import { LlamaModel } from '../../forward.ts';
import { SharedArena } from '../arena.ts';
import { instantiateKernels, kernelModule } from '../wasm/kernel-module.ts';
import { SequenceSession } from '../../sequence-session.ts';
import { KIND_F32 } from '../kernel-abi.ts';
import { columnShare } from './job.ts';
import { KernelThreadPool } from './thread-pool.ts';

const compiled = kernelModule();
const repoRoot = fileURLToPath(new URL('../../../..', import.meta.url));

describe('columnShare', () => {
  it('covers every column exactly once, in multiples of 8 (the packed q8_0 pairs of 4-row groups)', () => {
    for (const [outDim, n] of [
      [1, 2],
      [7, 2],
      [130, 2],
      [129, 3],
      [49152, 2],
    ] as const) {
      const seen = new Uint8Array(outDim);
      for (let t = 0; t < n; t++) {
        const [a, b] = columnShare(outDim, t, n);
        if (a < b && b < outDim) assert.equal((b - a) % 8, 0);
        assert.equal(Math.min(a, outDim - (outDim % 8)) % 8, 0, 'starts at a pair');
        for (let j = a; j < b; j++) seen[j]!++;
      }
      assert.ok(
        seen.every((v) => v === 1),
        `${outDim} columns over ${n} threads`,
      );
    }
  });
});

describe('KernelThreadPool', { skip: compiled === null ? 'no WebAssembly SIMD' : false }, () => {
  it('computes the same product on 2 threads as on one, then stops its workers', async () => {
    const arena = new SharedArena(1 << 20);
    const kernels = instantiateKernels(compiled!.module, arena.memory);
    const [rows, inDim, outDim] = [3, 64, 130];
    const x = arena.allocF32(rows * inDim).map((_, i) => Math.sin(i));
    const w = arena.allocF32(outDim * inDim).map((_, i) => Math.cos(i * 0.37));
    const single = arena.allocF32(rows * outDim);
    const pooled = arena.allocF32(rows * outDim).fill(Number.NaN);
    kernels.matmul_f32(single.byteOffset, x.byteOffset, w.byteOffset, 0, rows, inDim, outDim, 0, outDim, 16);
    const pool = await KernelThreadPool.start(2, arena, compiled!.module, kernels);
    const op = {
      kind: KIND_F32,
      x: x.byteOffset,
      w: w.byteOffset,
      scales: 0,
      rows,
      inDim,
      outDim,
      panel: 16,
    } as const;
    for (let i = 0; i < 3; i++) pool.run([{ ...op, out: pooled.byteOffset }]); // repeated jobs reuse the board
    assert.deepEqual(pooled, single);
    await pool.close();
    await pool.close(); // idempotent
    assert.throws(() => pool.run([{ ...op, out: pooled.byteOffset }]), /closed/);
  });

  it('gives fortune-llama the same logits on 1 and 2 threads', async () => {
    const one = await LlamaModel.load(defaultModelDir, { threads: 1 });
    const two = await LlamaModel.load(defaultModelDir, { threads: 2 });
    try {
      assert.equal(one.kernels.threads, 1);
      assert.equal(two.kernels.threads, 2);
      const prompt = Array.from({ length: 40 }, (_, i) => (i * 37 + 5) % one.config.vocabSize);
      const a = new SequenceSession(one, { maxTokens: 41 }).feed(prompt, 'all');
      const b = new SequenceSession(two, { maxTokens: 41 }).feed(prompt, 'all');
      // Each output column is computed by exactly one thread with the same kernel: bit-identical.
      assert.deepEqual(b, a);
    } finally {
      await one.close();
      await two.close();
    }
  });

  it('does not keep the process alive when a model is never closed', () => {
    const script = [
      "import { LlamaModel } from './src/model/forward.ts';",
      "import { defaultModelDir } from './src/util/paths.ts';",
      'const m = await LlamaModel.load(defaultModelDir, { threads: 2 });',
      "console.log('threads', m.kernels.threads);",
    ].join('\n');
    const child = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: repoRoot,
      timeout: 20_000,
      encoding: 'utf8',
    });
    assert.equal(child.signal, null, `the process hung (killed by ${child.signal}); stderr: ${child.stderr}`);
    assert.equal(child.status, 0, child.stderr);
    assert.match(child.stdout, /threads 2/);
  });
});
