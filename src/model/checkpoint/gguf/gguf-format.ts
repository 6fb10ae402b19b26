/**
 * The GGUF file format (llama.cpp's model container), version 3: constants, value types and sizes shared by
 * the reader and the writer so both sides agree byte for byte.
 *
 * Like a protocol's wire-format header file: one place that says what each tag number means.
 *
 *   [ "GGUF" | u32 version=3 | u64 tensor_count | u64 kv_count ]
 *   [ kv_count × (string key | u32 value_type | value) ]          metadata ("general.architecture" = "llama", ...)
 *   [ tensor_count × (string name | u32 n_dims | u64 ne[n_dims] | u32 ggml_type | u64 offset) ]
 *   [ zero padding to `general.alignment` (default 32) ]
 *   [ tensor data: each tensor at data_start + offset, offsets multiples of the alignment ]
 *
 * Strings are u64 byte length + UTF-8 bytes (no terminator). Everything is little-endian. `ne` lists the
 * dimensions innermost first: a Hugging Face weight of shape [rows, cols] has ne = [cols, rows].
 */

export const GGUF_MAGIC = 0x46554747; // "GGUF" read as a little-endian u32
export const GGUF_VERSION = 3;
export const GGUF_DEFAULT_ALIGNMENT = 32;

/** Metadata value type tags (gguf_type). */
export const GGUF_VALUE_TYPE = {
  uint8: 0,
  int8: 1,
  uint16: 2,
  int16: 3,
  uint32: 4,
  int32: 5,
  float32: 6,
  bool: 7,
  string: 8,
  array: 9,
  uint64: 10,
  int64: 11,
  float64: 12,
} as const;
export type GgufValueTypeName = keyof typeof GGUF_VALUE_TYPE;
export type GgufNumberType =
  | 'uint8'
  | 'int8'
  | 'uint16'
  | 'int16'
  | 'uint32'
  | 'int32'
  | 'float32'
  | 'float64';
export type GgufBigIntType = 'uint64' | 'int64';
export type GgufScalarType = GgufNumberType | GgufBigIntType | 'bool' | 'string';

export const GGUF_TYPE_NAMES: readonly GgufValueTypeName[] = Object.keys(
  GGUF_VALUE_TYPE,
) as GgufValueTypeName[];

/** Plain value of a scalar type: numbers, 64-bit integers as bigint, booleans, strings. */
export type GgufScalar = number | bigint | boolean | string;

/** One metadata value with its wire type (JS numbers alone cannot say u32 from f32). */
export type GgufValue =
  | { type: GgufNumberType; value: number }
  | { type: GgufBigIntType; value: bigint }
  | { type: 'bool'; value: boolean }
  | { type: 'string'; value: string }
  | GgufArray;

/** A homogeneous array; arrays of arrays hold nested GgufArray items. */
export type GgufArray =
  | { type: 'array'; itemType: GgufScalarType; value: GgufScalar[] }
  | { type: 'array'; itemType: 'array'; value: GgufArray[] };

export type GgufMetadata = Map<string, GgufValue>;

/** Tensor element types we read and write (ggml_type ids). */
export const GGML_TYPE = { F32: 0, F16: 1, Q8_0: 8, BF16: 30 } as const;
export type GgmlTypeName = keyof typeof GGML_TYPE;

export function ggmlTypeName(id: number): GgmlTypeName | undefined {
  return (Object.keys(GGML_TYPE) as GgmlTypeName[]).find((k) => GGML_TYPE[k] === id);
}

/** Q8_0: blocks of 32 values, each a f16 scale followed by 32 int8 → 34 bytes per block. */
export const Q8_0_BLOCK = 32;
export const Q8_0_BLOCK_BYTES = 34;

/** `general.file_type` (llama_ftype) for a file whose big matrices are all of one type. */
export const LLAMA_FILE_TYPE: Record<GgmlTypeName, number> = { F32: 0, F16: 1, Q8_0: 7, BF16: 32 };

/** Bytes of a tensor of `count` elements whose innermost dimension is `ne0`. Throws if Q8_0 cannot tile it. */
export function tensorByteLength(type: GgmlTypeName, count: number, ne0: number): number {
  switch (type) {
    case 'F32':
      return count * 4;
    case 'F16':
    case 'BF16':
      return count * 2;
    case 'Q8_0':
      if (ne0 % Q8_0_BLOCK !== 0) {
        throw new RangeError(
          `Q8_0 needs rows that are a multiple of ${Q8_0_BLOCK} values; this row has ${ne0}`,
        );
      }
      return (count / Q8_0_BLOCK) * Q8_0_BLOCK_BYTES;
  }
}

export function alignUp(n: number, alignment: number): number {
  return Math.ceil(n / alignment) * alignment;
}

/** Value constructors, so metadata reads like `{ 'llama.block_count': u32(30) }`. */
export const u32 = (value: number): GgufValue => ({ type: 'uint32', value });
export const i32 = (value: number): GgufValue => ({ type: 'int32', value });
export const f32 = (value: number): GgufValue => ({ type: 'float32', value });
export const str = (value: string): GgufValue => ({ type: 'string', value });
export const bool = (value: boolean): GgufValue => ({ type: 'bool', value });
export const arr = (itemType: GgufScalarType, value: GgufScalar[]): GgufValue => ({
  type: 'array',
  itemType,
  value,
});

/** llama.cpp's token types (llama_token_type), `tokenizer.ggml.token_type`. */
export const TOKEN_TYPE = { normal: 1, unknown: 2, control: 3, userDefined: 4, unused: 5, byte: 6 } as const;
