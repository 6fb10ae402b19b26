/**
 * Tensor data ↔ fp32 for the GGUF element types we support: F32, F16, BF16 and Q8_0.
 *
 * Like a codec in a media pipeline: `encodeTensor` packs fp32 values into the on-disk layout,
 * `decodeTensor` unpacks them again; F32 is lossless, F16/BF16 round to nearest even, Q8_0 keeps one
 * scale per 32 values.
 *
 *   Q8_0 block (34 bytes, 32 values):  [ f16 d ][ int8 q0 ][ int8 q1 ] ... [ int8 q31 ]
 *   value_i = q_i × d,   d = max|x| / 127,   q_i = round(x_i / d)   (llama.cpp's quantize_row_q8_0_ref)
 */
import { bf16ToF32, f16ToF32, f32ToBf16Bits, f32ToF16Bits } from '../dtypes.ts';
import { type GgmlTypeName, Q8_0_BLOCK, Q8_0_BLOCK_BYTES, tensorByteLength } from './gguf-format.ts';

/** fp32 values (Float32Array, count) → bytes in `type`'s layout. `ne0` = innermost dimension. */
export function encodeTensor(type: GgmlTypeName, data: Float32Array, ne0: number): Uint8Array {
  const out = new Uint8Array(tensorByteLength(type, data.length, ne0));
  switch (type) {
    case 'F32':
      out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
      return out;
    case 'F16':
    case 'BF16': {
      const bits = new Uint16Array(out.buffer);
      const convert = type === 'F16' ? f32ToF16Bits : f32ToBf16Bits;
      for (let i = 0; i < data.length; i++) bits[i] = convert(data[i]!);
      return out;
    }
    case 'Q8_0':
      quantizeQ8_0(data, out);
      return out;
  }
}

/** Bytes in `type`'s layout → fp32 (Float32Array, count), in a fresh buffer. */
export function decodeTensor(type: GgmlTypeName, bytes: Uint8Array, count: number): Float32Array {
  // Copy first: typed-array views need an aligned offset, and callers may reuse their buffer.
  const own = new Uint8Array(bytes.byteLength);
  own.set(bytes);
  switch (type) {
    case 'F32':
      return new Float32Array(own.buffer, 0, count);
    case 'F16':
      return f16ToF32(new Uint16Array(own.buffer, 0, count));
    case 'BF16':
      return bf16ToF32(new Uint16Array(own.buffer, 0, count));
    case 'Q8_0':
      return dequantizeQ8_0(own, count);
  }
}

function quantizeQ8_0(data: Float32Array, out: Uint8Array): void {
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  const q = new Int8Array(out.buffer, out.byteOffset, out.byteLength);
  const blocks = data.length / Q8_0_BLOCK;
  for (let b = 0; b < blocks; b++) {
    const start = b * Q8_0_BLOCK;
    let amax = 0;
    for (let j = 0; j < Q8_0_BLOCK; j++) amax = Math.max(amax, Math.abs(data[start + j]!));
    const d = Math.fround(amax / 127);
    const id = d ? Math.fround(1 / d) : 0;
    const at = b * Q8_0_BLOCK_BYTES;
    view.setUint16(at, f32ToF16Bits(d), true);
    for (let j = 0; j < Q8_0_BLOCK; j++) q[at + 2 + j] = roundHalfAway(Math.fround(data[start + j]! * id));
  }
}

function dequantizeQ8_0(bytes: Uint8Array, count: number): Float32Array {
  const out = new Float32Array(count);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const q = new Int8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const halfTable = f16Table();
  for (let b = 0; b < count / Q8_0_BLOCK; b++) {
    const at = b * Q8_0_BLOCK_BYTES;
    const d = halfTable[view.getUint16(at, true)]!;
    for (let j = 0; j < Q8_0_BLOCK; j++) out[b * Q8_0_BLOCK + j] = q[at + 2 + j]! * d;
  }
  return out;
}

let halfTableCache: Float32Array | null = null;

/** Every fp16 bit pattern's value (Float32Array, 65536): one lookup per Q8_0 block instead of a conversion. */
function f16Table(): Float32Array {
  halfTableCache ??= f16ToF32(Uint16Array.from({ length: 65536 }, (_, i) => i));
  return halfTableCache;
}

/** C's roundf: halves go away from zero (Math.round sends -2.5 to -2). */
function roundHalfAway(x: number): number {
  return x < 0 ? -Math.round(-x) : Math.round(x);
}
