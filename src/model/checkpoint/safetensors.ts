/**
 * Our own safetensors reader: single `model.safetensors` or sharded `model.safetensors.index.json`.
 *
 * The format is a tiny packet layout, like a length-prefixed frame on a socket:
 *
 *   [ u64 LE: header length N ][ N bytes JSON header ][ raw tensor bytes ... ]
 *   header: { "name": { "dtype": "BF16", "shape": [rows, cols], "data_offsets": [begin, end] }, ... }
 *   offsets are relative to the first byte after the header.
 *
 * Opening reads only the headers (a table of contents); `read(name)` then fetches one tensor with a
 * positioned read into its own, 4-byte-aligned buffer and upcasts it to a Float32Array.
 */
import { type FileHandle, open, stat } from 'node:fs/promises';
import { endianness } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { existsSync, readFileSync } from 'node:fs';
import { ModelLoadError } from '../../util/errors.ts';
import { BYTES_PER_ELEMENT, bf16ToF32, f16ToF32, type SafetensorsDtype } from './dtypes.ts';

export const SINGLE_FILE = 'model.safetensors';
export const INDEX_FILE = 'model.safetensors.index.json';

export interface TensorInfo {
  name: string;
  /** As written in the header; only F32, BF16 and F16 can be read. */
  dtype: string;
  shape: number[];
  /** The shard holding it. */
  file: string;
  /** Absolute byte position of its data in `file`. */
  position: number;
  byteLength: number;
}

/** Parses one file's header: tensor name → where its bytes are. Reads only the first 8 + N bytes. */
export async function readSafetensorsHeader(file: string): Promise<Map<string, TensorInfo>> {
  const handle = await openOrFail(file);
  try {
    const fileSize = (await handle.stat()).size;
    const lengthBytes = Buffer.alloc(8);
    await handle.read(lengthBytes, 0, 8, 0);
    const headerLength = Number(lengthBytes.readBigUInt64LE(0));
    if (fileSize < 8 || headerLength > fileSize - 8) {
      throw new ModelLoadError(
        `${file}: header length ${headerLength} does not fit in a ${fileSize}-byte file; is it a safetensors file?`,
      );
    }
    const headerBytes = Buffer.alloc(headerLength);
    await handle.read(headerBytes, 0, headerLength, 8);
    let header: Record<string, unknown>;
    try {
      header = JSON.parse(headerBytes.toString('utf8')) as Record<string, unknown>;
    } catch (cause) {
      throw new ModelLoadError(`${file}: the safetensors header is not valid JSON`, { cause });
    }
    const dataStart = 8 + headerLength;
    const tensors = new Map<string, TensorInfo>();
    for (const [name, entry] of Object.entries(header)) {
      if (name === '__metadata__') continue;
      tensors.set(name, parseEntry(file, name, entry, dataStart, fileSize));
    }
    return tensors;
  } finally {
    await handle.close();
  }
}

function parseEntry(
  file: string,
  name: string,
  entry: unknown,
  dataStart: number,
  fileSize: number,
): TensorInfo {
  const e = entry as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
  const offsets = e.data_offsets;
  if (
    typeof e.dtype !== 'string' ||
    !Array.isArray(e.shape) ||
    !e.shape.every((d) => Number.isInteger(d) && d >= 0) ||
    !Array.isArray(offsets) ||
    offsets.length !== 2
  ) {
    throw new ModelLoadError(
      `${file}: header entry for tensor "${name}" is malformed: ${JSON.stringify(entry)}`,
    );
  }
  const [begin, end] = offsets as [number, number];
  const shape = e.shape as number[];
  const elementBytes = BYTES_PER_ELEMENT[e.dtype as SafetensorsDtype];
  const count = shape.reduce((a, b) => a * b, 1);
  if (end < begin || dataStart + end > fileSize || (elementBytes && end - begin !== count * elementBytes)) {
    throw new ModelLoadError(
      `${file}: tensor "${name}" has data_offsets [${begin}, ${end}] that do not match its shape ` +
        `[${shape}] ${e.dtype} or run past the end of the file (truncated download?)`,
    );
  }
  return { name, dtype: e.dtype, shape, file, position: dataStart + begin, byteLength: end - begin };
}

/** A checkpoint's tensors across one or more shard files, read lazily by name. */
export class SafetensorsCheckpoint {
  private readonly handles = new Map<string, FileHandle>();

  private constructor(
    readonly files: string[],
    private readonly tensors: Map<string, TensorInfo>,
  ) {}

  /** Opens `dir/model.safetensors`, or every shard listed in `dir/model.safetensors.index.json`. */
  static async open(dir: string): Promise<SafetensorsCheckpoint> {
    const files = listShardFiles(dir);
    const tensors = new Map<string, TensorInfo>();
    for (const file of files) {
      for (const [name, info] of await readSafetensorsHeader(file)) tensors.set(name, info);
    }
    return new SafetensorsCheckpoint(files, tensors);
  }

  has(name: string): boolean {
    return this.tensors.has(name);
  }

  info(name: string): TensorInfo | undefined {
    return this.tensors.get(name);
  }

  names(): string[] {
    return [...this.tensors.keys()];
  }

  /** Total bytes of the shard files (headers included). */
  async bytesOnDisk(): Promise<number> {
    let total = 0;
    for (const file of this.files) total += (await stat(file)).size;
    return total;
  }

  /** One tensor's values as fp32, in its own buffer: Float32Array (product of shape). */
  async read(name: string): Promise<Float32Array> {
    const info = this.tensors.get(name);
    if (!info)
      throw new ModelLoadError(`tensor "${name}" is not in ${this.files.map((f) => basename(f)).join(', ')}`);
    if (!(info.dtype in BYTES_PER_ELEMENT)) {
      throw new ModelLoadError(
        `${info.file}: tensor "${name}" has dtype ${info.dtype}; supported: ${Object.keys(BYTES_PER_ELEMENT).join(', ')}`,
      );
    }
    // A fresh ArrayBuffer is always aligned, so typed-array views on it are safe (a pooled Buffer may not be).
    const bytes = new Uint8Array(new ArrayBuffer(info.byteLength));
    const handle = await this.handle(info.file);
    const { bytesRead } = await handle.read(bytes, 0, info.byteLength, info.position);
    if (bytesRead !== info.byteLength) {
      throw new ModelLoadError(
        `${info.file}: tensor "${name}" is truncated (read ${bytesRead} of ${info.byteLength} bytes)`,
      );
    }
    switch (info.dtype as SafetensorsDtype) {
      case 'F32':
        return new Float32Array(bytes.buffer);
      case 'BF16':
        return bf16ToF32(new Uint16Array(bytes.buffer));
      case 'F16':
        return f16ToF32(new Uint16Array(bytes.buffer));
    }
  }

  async close(): Promise<void> {
    for (const handle of this.handles.values()) await handle.close();
    this.handles.clear();
  }

  private async handle(file: string): Promise<FileHandle> {
    let handle = this.handles.get(file);
    if (!handle) {
      handle = await openOrFail(file);
      this.handles.set(file, handle);
    }
    return handle;
  }
}

/** The shard files of a checkpoint folder, single-file layout first. */
export function listShardFiles(dir: string): string[] {
  const single = join(dir, SINGLE_FILE);
  if (existsSync(single)) return [single];
  const indexPath = join(dir, INDEX_FILE);
  if (!existsSync(indexPath)) {
    throw new ModelLoadError(
      `no ${SINGLE_FILE} or ${INDEX_FILE} in ${dir}; only safetensors checkpoints are supported`,
    );
  }
  let weightMap: Record<string, string>;
  try {
    weightMap = (JSON.parse(readFileSync(indexPath, 'utf8')) as { weight_map: Record<string, string> })
      .weight_map;
  } catch (cause) {
    throw new ModelLoadError(`${indexPath} is not valid JSON`, { cause });
  }
  if (typeof weightMap !== 'object' || weightMap === null) {
    throw new ModelLoadError(`${indexPath} has no "weight_map" object`);
  }
  return [...new Set(Object.values(weightMap))].map((shard) => join(dirname(indexPath), shard));
}

async function openOrFail(file: string): Promise<FileHandle> {
  if (endianness() !== 'LE')
    throw new ModelLoadError('safetensors data is little-endian; this host is big-endian');
  try {
    return await open(file, 'r');
  } catch (cause) {
    throw new ModelLoadError(`cannot open ${file}: check the checkpoint folder is complete`, { cause });
  }
}
