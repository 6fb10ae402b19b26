/**
 * What one process's share of the model costs in memory: the bytes of the weights it holds (matrices in
 * their kernel format, norms, biases, the embedding table) and of its KV cache. For pipeline stages,
 * where the point is that each holds only its layers.
 */
import type { KvCacheTensors } from '../forward-batch.ts';
import type { Matrix, PreparedWeights } from '../kernels/index.ts';

function matrixBytes(m: Matrix): number {
  if (m.q8x4) return m.q8x4.byteLength;
  if (m.q8) return m.q8.q.byteLength + m.q8.scales.byteLength;
  return m.f32?.byteLength ?? 0;
}

const vectorBytes = (v: Float32Array | null): number => v?.byteLength ?? 0;

export function heldWeightBytes(w: PreparedWeights): number {
  let bytes = vectorBytes(w.finalNorm) + matrixBytes(w.lmHead);
  if (!(w.lmHead.f32 && w.embed === w.lmHead.f32)) bytes += vectorBytes(w.embed); // a tied table counts once
  for (const l of w.layers) {
    bytes += vectorBytes(l.attnNorm) + vectorBytes(l.mlpNorm);
    bytes += vectorBytes(l.bq) + vectorBytes(l.bk) + vectorBytes(l.bv) + vectorBytes(l.bo);
    for (const m of [l.wq, l.wk, l.wv, l.wo, l.wGate, l.wUp, l.wDown]) bytes += matrixBytes(m);
  }
  return bytes;
}

export function kvCacheBytes(kv: KvCacheTensors): number {
  let bytes = 0;
  for (let l = 0; l < kv.numLayers; l++) bytes += kv.key[l]!.byteLength + kv.value[l]!.byteLength;
  return bytes;
}
