/**
 * GGUF reader: parses the header (metadata and tensor infos) without touching tensor data, then reads one
 * tensor at a time on demand, dequantized to fp32.
 *
 * Like `safetensors.ts`, a table of contents first and positioned reads after; the header is parsed
 * through a small buffered cursor because its length is not known up front (a 49k-token vocabulary
 * alone is about a megabyte of metadata).
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { endianness } from 'node:os';
import { ModelLoadError } from '../../../util/errors.ts';
import {
  GGUF_DEFAULT_ALIGNMENT,
  GGUF_MAGIC,
  GGUF_TYPE_NAMES,
  type GgmlTypeName,
  ggmlTypeName,
  type GgufArray,
  type GgufMetadata,
  type GgufScalar,
  type GgufValue,
  type GgufValueTypeName,
  tensorByteLength,
} from './gguf-format.ts';
import { decodeTensor } from './tensor-codec.ts';

export interface GgufTensorInfo {
  name: string;
  /** Hugging Face order, outermost first: the reverse of the file's ne. */
  shape: number[];
  type: GgmlTypeName;
  /** Absolute byte position of the data in the file. */
  position: number;
  byteLength: number;
}

export interface GgufHeader {
  version: number;
  metadata: GgufMetadata;
  tensors: Map<string, GgufTensorInfo>;
  alignment: number;
  /** Absolute position of the data section. */
  dataStart: number;
}

/** An open GGUF file: the parsed header plus `read(name)` for tensor data. Call `close()` when done. */
export class GgufFile {
  private constructor(
    readonly path: string,
    readonly header: GgufHeader,
    private fd: number | null,
  ) {}

  static open(path: string): GgufFile {
    if (endianness() !== 'LE')
      throw new ModelLoadError('GGUF data is little-endian; this host is big-endian');
    let fd: number;
    try {
      fd = openSync(path, 'r');
    } catch (cause) {
      throw new ModelLoadError(`cannot open ${path}: check the path to the .gguf file`, { cause });
    }
    try {
      return new GgufFile(path, parseHeader(fd, path), fd);
    } catch (error) {
      closeSync(fd);
      throw error;
    }
  }

  get metadata(): GgufMetadata {
    return this.header.metadata;
  }

  get tensors(): Map<string, GgufTensorInfo> {
    return this.header.tensors;
  }

  /** One tensor as fp32 (Float32Array, product of shape), in its own buffer. */
  read(name: string): Float32Array {
    const info = this.header.tensors.get(name);
    if (!info) throw new ModelLoadError(`${this.path}: no tensor "${name}"`);
    if (this.fd === null) throw new Error(`${this.path} is closed`);
    const bytes = new Uint8Array(info.byteLength);
    const got = readSync(this.fd, bytes, 0, info.byteLength, info.position);
    if (got !== info.byteLength) {
      throw new ModelLoadError(
        `${this.path}: tensor "${name}" is truncated (read ${got} of ${info.byteLength} bytes)`,
      );
    }
    return decodeTensor(
      info.type,
      bytes,
      info.shape.reduce((a, b) => a * b, 1),
    );
  }

  close(): void {
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
  }
}

/** Parses just the header of a GGUF file. */
export function readGgufHeader(path: string): GgufHeader {
  const file = GgufFile.open(path);
  file.close();
  return file.header;
}

function parseHeader(fd: number, path: string): GgufHeader {
  const fileSize = fstatSync(fd).size;
  const c = new FileCursor(fd, path, fileSize);
  if (fileSize < 24 || c.u32() !== GGUF_MAGIC) {
    throw new ModelLoadError(`${path} does not start with "GGUF"; is it a GGUF file?`);
  }
  const version = c.u32();
  if (version !== 3 && version !== 2) {
    throw new ModelLoadError(`${path}: GGUF version ${version} is not supported (only 2 and 3)`);
  }
  const tensorCount = Number(c.u64());
  const kvCount = Number(c.u64());
  const metadata: GgufMetadata = new Map();
  for (let i = 0; i < kvCount; i++) {
    const key = c.string();
    metadata.set(key, readValue(c, typeName(c.u32(), path, key)));
  }
  const alignmentValue = metadata.get('general.alignment');
  const alignment = alignmentValue ? Number(alignmentValue.value) : GGUF_DEFAULT_ALIGNMENT;
  const raw: { name: string; shape: number[]; type: GgmlTypeName; offset: number }[] = [];
  for (let i = 0; i < tensorCount; i++) {
    const name = c.string();
    const nDims = c.u32();
    const ne = Array.from({ length: nDims }, () => Number(c.u64()));
    const typeId = c.u32();
    const type = ggmlTypeName(typeId);
    if (!type) {
      throw new ModelLoadError(
        `${path}: tensor "${name}" has ggml type ${typeId}; supported: F32, F16, BF16, Q8_0`,
      );
    }
    raw.push({ name, shape: ne.reverse(), type, offset: Number(c.u64()) });
  }
  const dataStart = Math.ceil(c.position / alignment) * alignment;
  const tensors = new Map<string, GgufTensorInfo>();
  for (const t of raw) {
    const count = t.shape.reduce((a, b) => a * b, 1);
    const byteLength = tensorByteLength(t.type, count, t.shape[t.shape.length - 1] ?? 1);
    const position = dataStart + t.offset;
    if (t.offset % alignment !== 0 || position + byteLength > fileSize) {
      throw new ModelLoadError(
        `${path}: tensor "${t.name}" at offset ${t.offset} (${byteLength} bytes) is misaligned or runs past ` +
          `the end of the ${fileSize}-byte file (truncated download?)`,
      );
    }
    tensors.set(t.name, { name: t.name, shape: t.shape, type: t.type, position, byteLength });
  }
  return { version, metadata, tensors, alignment, dataStart };
}

function typeName(id: number, path: string, key: string): GgufValueTypeName {
  const name = GGUF_TYPE_NAMES[id];
  if (name === undefined) throw new ModelLoadError(`${path}: metadata "${key}" has unknown value type ${id}`);
  return name;
}

function readValue(c: FileCursor, type: GgufValueTypeName): GgufValue {
  if (type === 'array') return readArray(c);
  return { type, value: readScalar(c, type) } as GgufValue;
}

function readArray(c: FileCursor): GgufArray {
  const itemType = typeName(c.u32(), c.path, 'array item');
  const n = Number(c.u64());
  if (itemType === 'array')
    return { type: 'array', itemType, value: Array.from({ length: n }, () => readArray(c)) };
  const value: GgufScalar[] = new Array(n);
  for (let i = 0; i < n; i++) value[i] = readScalar(c, itemType);
  return { type: 'array', itemType, value };
}

function readScalar(c: FileCursor, type: Exclude<GgufValueTypeName, 'array'>): GgufScalar {
  switch (type) {
    case 'uint8':
      return c.view(1).getUint8(0);
    case 'int8':
      return c.view(1).getInt8(0);
    case 'uint16':
      return c.view(2).getUint16(0, true);
    case 'int16':
      return c.view(2).getInt16(0, true);
    case 'uint32':
      return c.u32();
    case 'int32':
      return c.view(4).getInt32(0, true);
    case 'float32':
      return c.view(4).getFloat32(0, true);
    case 'float64':
      return c.view(8).getFloat64(0, true);
    case 'uint64':
      return c.u64();
    case 'int64':
      return c.view(8).getBigInt64(0, true);
    case 'bool':
      return c.view(1).getUint8(0) !== 0;
    case 'string':
      return c.string();
  }
}

/** Sequential little-endian reads from a file descriptor through a refillable window. */
class FileCursor {
  private window = new Uint8Array(1 << 20);
  private windowStart = 0;
  private windowLength = 0;
  position = 0;

  constructor(
    private readonly fd: number,
    readonly path: string,
    private readonly fileSize: number,
  ) {}

  /** A DataView over the next `n` bytes; the cursor moves past them. */
  view(n: number): DataView {
    if (this.position + n > this.fileSize) {
      throw new ModelLoadError(`${this.path}: header runs past the end of the file at byte ${this.position}`);
    }
    if (this.position < this.windowStart || this.position + n > this.windowStart + this.windowLength) {
      this.refill(n);
    }
    const v = new DataView(this.window.buffer, this.position - this.windowStart, n);
    this.position += n;
    return v;
  }

  u32(): number {
    return this.view(4).getUint32(0, true);
  }

  u64(): bigint {
    return this.view(8).getBigUint64(0, true);
  }

  string(): string {
    const n = Number(this.u64());
    const v = this.view(n);
    return Buffer.from(v.buffer, v.byteOffset, n).toString('utf8');
  }

  private refill(atLeast: number): void {
    if (atLeast > this.window.length) this.window = new Uint8Array(atLeast);
    this.windowStart = this.position;
    this.windowLength = readSync(this.fd, this.window, 0, this.window.length, this.position);
  }
}
