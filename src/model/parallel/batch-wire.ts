/**
 * A ForwardBatch on the wire between ranks: JSON with plain number arrays (a few hundred bytes for a decode
 * step, a few KB for a prefill chunk: small next to one layer's all-reduce), and back.
 */
import type { ForwardBatch } from '../forward-batch.ts';

interface WireBatch {
  tokenIds: number[];
  positions: number[];
  slotMapping: number[];
  logitsRows: number[];
  seqs: { queryStart: number; queryLen: number; contextLen: number; blockTable: number[] }[];
}

export function encodeBatch(b: ForwardBatch): Buffer {
  const wire: WireBatch = {
    tokenIds: Array.from(b.tokenIds),
    positions: Array.from(b.positions),
    slotMapping: Array.from(b.slotMapping),
    logitsRows: Array.from(b.logitsRows),
    seqs: b.seqs.map((s) => ({ ...s, blockTable: Array.from(s.blockTable) })),
  };
  return Buffer.from(JSON.stringify(wire));
}

export function decodeBatch(bytes: Uint8Array): ForwardBatch {
  const w = JSON.parse(Buffer.from(bytes).toString('utf8')) as WireBatch;
  return {
    tokenIds: Int32Array.from(w.tokenIds),
    positions: Int32Array.from(w.positions),
    slotMapping: Int32Array.from(w.slotMapping),
    logitsRows: Int32Array.from(w.logitsRows),
    seqs: w.seqs.map((s) => ({ ...s, blockTable: Int32Array.from(s.blockTable) })),
  };
}
