/**
 * GGUF writer: metadata and tensor infos first, then tensor data streamed one tensor at a time, so a
 * multi-gigabyte model never has to sit in memory whole.
 *
 * Like writing an archive with a table of contents up front: every tensor's size is known from its shape
 * and type, so all offsets are computed before the first data byte is written.
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import {
  alignUp,
  GGML_TYPE,
  type GgmlTypeName,
  GGUF_DEFAULT_ALIGNMENT,
  GGUF_MAGIC,
  GGUF_VALUE_TYPE,
  GGUF_VERSION,
  type GgufArray,
  type GgufMetadata,
  type GgufScalar,
  type GgufScalarType,
  type GgufValue,
  tensorByteLength,
} from './gguf-format.ts';
import { encodeTensor } from './tensor-codec.ts';

export interface GgufTensorToWrite {
  name: string;
  /** Hugging Face order, outermost first (e.g. [rows, cols]); written reversed as GGUF's ne. */
  shape: number[];
  type: GgmlTypeName;
  /** The fp32 values, or a function producing them when their turn comes (one tensor in memory at a time). */
  data: Float32Array | (() => Float32Array | Promise<Float32Array>);
}

export interface GgufWriteOptions {
  metadata: GgufMetadata | Record<string, GgufValue>;
  tensors: GgufTensorToWrite[];
}

/** Writes a GGUF v3 file; returns its size in bytes. */
export async function writeGguf(file: string, options: GgufWriteOptions): Promise<number> {
  const metadata =
    options.metadata instanceof Map ? options.metadata : new Map(Object.entries(options.metadata));
  const alignment = alignmentOf(metadata);
  const { header, offsets, sizes } = encodeGgufHeader(metadata, options.tensors, alignment);
  const fd = openSync(file, 'w');
  try {
    let position = 0;
    const write = (bytes: Uint8Array): void => {
      let done = 0;
      while (done < bytes.length) done += writeSync(fd, bytes, done, bytes.length - done, position + done);
      position += bytes.length;
    };
    write(header);
    const dataStart = position;
    for (const [i, t] of options.tensors.entries()) {
      write(new Uint8Array(dataStart + offsets[i]! - position)); // padding to the tensor's aligned offset
      const values = typeof t.data === 'function' ? await t.data() : t.data;
      const count = t.shape.reduce((a, b) => a * b, 1);
      if (values.length !== count) {
        throw new RangeError(
          `tensor "${t.name}": shape [${t.shape}] holds ${count} values, got ${values.length}`,
        );
      }
      const bytes = encodeTensor(t.type, values, t.shape[t.shape.length - 1] ?? 1);
      if (bytes.length !== sizes[i])
        throw new Error(`tensor "${t.name}": encoded ${bytes.length} bytes, expected ${sizes[i]}`);
      write(bytes);
    }
    write(new Uint8Array(alignUp(position, alignment) - position)); // the file ends aligned, like llama.cpp's
    return position;
  } finally {
    closeSync(fd);
  }
}

/**
 * Header bytes (magic, counts, metadata, tensor infos, padding up to the data section) plus each tensor's
 * offset and size within the data section.
 */
export function encodeGgufHeader(
  metadata: GgufMetadata,
  tensors: readonly Pick<GgufTensorToWrite, 'name' | 'shape' | 'type'>[],
  alignment = alignmentOf(metadata),
): { header: Uint8Array; offsets: number[]; sizes: number[] } {
  const w = new ByteWriter();
  w.u32(GGUF_MAGIC);
  w.u32(GGUF_VERSION);
  w.u64(BigInt(tensors.length));
  w.u64(BigInt(metadata.size));
  for (const [key, value] of metadata) {
    w.string(key);
    w.u32(GGUF_VALUE_TYPE[value.type]);
    writeValue(w, value);
  }
  const offsets: number[] = [];
  const sizes: number[] = [];
  let offset = 0;
  for (const t of tensors) {
    const count = t.shape.reduce((a, b) => a * b, 1);
    const size = tensorByteLength(t.type, count, t.shape[t.shape.length - 1] ?? 1);
    w.string(t.name);
    w.u32(t.shape.length);
    for (const d of [...t.shape].reverse()) w.u64(BigInt(d));
    w.u32(GGML_TYPE[t.type]);
    w.u64(BigInt(offset));
    offsets.push(offset);
    sizes.push(size);
    offset = alignUp(offset + size, alignment);
  }
  w.pad(alignment);
  return { header: w.bytes(), offsets, sizes };
}

function alignmentOf(metadata: GgufMetadata): number {
  const v = metadata.get('general.alignment');
  if (!v) return GGUF_DEFAULT_ALIGNMENT;
  if (v.type !== 'uint32' || v.value <= 0 || v.value % 8 !== 0) {
    throw new RangeError(`general.alignment must be a uint32 multiple of 8, got ${JSON.stringify(v)}`);
  }
  return v.value;
}

function writeValue(w: ByteWriter, v: GgufValue): void {
  if (v.type === 'array') writeArray(w, v);
  else writeScalar(w, v.type, v.value);
}

function writeArray(w: ByteWriter, a: GgufArray): void {
  w.u32(GGUF_VALUE_TYPE[a.itemType]);
  w.u64(BigInt(a.value.length));
  // A nested array's items are bare (item type, count, items) triples, without another type tag.
  if (a.itemType === 'array') for (const item of a.value as GgufArray[]) writeArray(w, item);
  else for (const item of a.value as GgufScalar[]) writeScalar(w, a.itemType, item);
}

/** How each scalar type goes on the wire (little-endian, strings length-prefixed). */
const SCALAR_WRITERS: Record<GgufScalarType, (w: ByteWriter, v: GgufScalar) => void> = {
  uint8: (w, v) => w.view(1).setUint8(0, Number(v)),
  int8: (w, v) => w.view(1).setInt8(0, Number(v)),
  uint16: (w, v) => w.view(2).setUint16(0, Number(v), true),
  int16: (w, v) => w.view(2).setInt16(0, Number(v), true),
  uint32: (w, v) => w.view(4).setUint32(0, Number(v), true),
  int32: (w, v) => w.view(4).setInt32(0, Number(v), true),
  float32: (w, v) => w.view(4).setFloat32(0, Number(v), true),
  float64: (w, v) => w.view(8).setFloat64(0, Number(v), true),
  uint64: (w, v) => w.view(8).setBigUint64(0, BigInt(v), true),
  int64: (w, v) => w.view(8).setBigInt64(0, BigInt(v), true),
  bool: (w, v) => w.view(1).setUint8(0, v ? 1 : 0),
  string: (w, v) => w.string(String(v)),
};

function writeScalar(w: ByteWriter, type: GgufScalarType, value: GgufScalar): void {
  SCALAR_WRITERS[type](w, value);
}

/** A growable little-endian byte buffer. */
class ByteWriter {
  private buf = new Uint8Array(1 << 16);
  private length = 0;

  /** A DataView over the next `n` bytes, which now count as written. */
  view(n: number): DataView {
    if (this.length + n > this.buf.length) {
      const bigger = new Uint8Array(Math.max(this.buf.length * 2, this.length + n));
      bigger.set(this.buf.subarray(0, this.length));
      this.buf = bigger;
    }
    const v = new DataView(this.buf.buffer, this.length, n);
    this.length += n;
    return v;
  }

  u32(x: number): void {
    this.view(4).setUint32(0, x, true);
  }

  u64(x: bigint): void {
    this.view(8).setBigUint64(0, x, true);
  }

  string(s: string): void {
    const bytes = Buffer.from(s, 'utf8');
    this.u64(BigInt(bytes.length));
    const v = this.view(bytes.length);
    new Uint8Array(v.buffer, v.byteOffset, bytes.length).set(bytes);
  }

  pad(alignment: number): void {
    this.view(alignUp(this.length, alignment) - this.length);
  }

  bytes(): Uint8Array {
    return this.buf.slice(0, this.length);
  }
}
