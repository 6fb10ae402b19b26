/**
 * Number formats found in checkpoints, converted to and from the fp32 our math uses.
 *
 * Like byte-order helpers in a network stack: bit twiddling kept in one place so the reader and the
 * writer agree exactly.
 *
 *   fp32: 1 sign | 8 exponent | 23 mantissa
 *   bf16: 1 sign | 8 exponent |  7 mantissa   (= the top 16 bits of an fp32)
 *   fp16: 1 sign | 5 exponent | 10 mantissa
 */
export type SafetensorsDtype = 'F32' | 'BF16' | 'F16';

export const BYTES_PER_ELEMENT: Record<SafetensorsDtype, number> = { F32: 4, BF16: 2, F16: 2 };

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** bf16 bits (Uint16Array, n) → Float32Array (n): exact, bf16 is a truncated fp32. */
export function bf16ToF32(src: Uint16Array): Float32Array {
  const out = new Float32Array(src.length);
  const bits = new Uint32Array(out.buffer);
  for (let i = 0; i < src.length; i++) bits[i] = src[i]! << 16;
  return out;
}

/** fp16 bits (Uint16Array, n) → Float32Array (n): exact, including subnormals, inf and NaN. */
export function f16ToF32(src: Uint16Array): Float32Array {
  const out = new Float32Array(src.length);
  for (let i = 0; i < src.length; i++) out[i] = halfToFloat(src[i]!);
  return out;
}

function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >> 10) & 0x1f;
  const mantissa = h & 0x3ff;
  if (exponent === 0) return sign * mantissa * 2 ** -24; // subnormal
  if (exponent === 0x1f) return mantissa ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  return sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
}

/** fp32 → bf16 bits, round to nearest even (what PyTorch does). */
export function f32ToBf16Bits(x: number): number {
  f32[0] = x;
  const bits = u32[0]!;
  if (Number.isNaN(x)) return 0x7fc0;
  const roundingBias = 0x7fff + ((bits >>> 16) & 1);
  return ((bits + roundingBias) >>> 16) & 0xffff;
}

/** fp32 → fp16 bits, round to nearest even; overflow becomes ±inf. */
export function f32ToF16Bits(x: number): number {
  if (Number.isNaN(x)) return 0x7e00;
  const sign = x < 0 || Object.is(x, -0) ? 0x8000 : 0;
  const a = Math.abs(Math.fround(x));
  if (a >= 65520) return sign | 0x7c00; // rounds past the largest half (65504)
  if (a < 2 ** -14) return sign | roundHalfEven(a / 2 ** -24); // subnormal (may round up to the smallest normal)
  const exponent = Math.floor(Math.log2(a));
  const e = a / 2 ** exponent >= 2 ? exponent + 1 : a / 2 ** exponent < 1 ? exponent - 1 : exponent;
  const mantissa = roundHalfEven((a / 2 ** e - 1) * 1024);
  // A mantissa that rounds up to 1024 carries into the exponent, which the addition below does for free.
  return sign | (((e + 15) << 10) + mantissa);
}

function roundHalfEven(v: number): number {
  const floor = Math.floor(v);
  const diff = v - floor;
  if (diff > 0.5) return floor + 1;
  if (diff < 0.5) return floor;
  return floor % 2 === 0 ? floor : floor + 1;
}
