/**
 * Writes safetensors files from fp32 arrays: the mirror of `safetensors.ts`, used by tests to build
 * broken or sharded checkpoints and by tools that make random-weight models of real shapes.
 *
 * Like a packet builder in a protocol test suite: it produces exactly the frames the parser must accept.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BYTES_PER_ELEMENT, f32ToBf16Bits, f32ToF16Bits, type SafetensorsDtype } from './dtypes.ts';
import { INDEX_FILE } from './safetensors.ts';

export interface TensorToWrite {
  shape: number[];
  /** Values in row-major order: Float32Array (product of shape). */
  data: Float32Array;
  /** Stored dtype (converted from fp32 with round-to-nearest-even); default F32. */
  dtype?: SafetensorsDtype;
}

/** Serializes tensors (in insertion order) to the safetensors byte layout. */
export function encodeSafetensors(
  tensors: Record<string, TensorToWrite>,
  options: { padHeader?: boolean; metadata?: Record<string, string> } = {},
): Uint8Array {
  const header: Record<string, unknown> = { __metadata__: options.metadata ?? { format: 'pt' } };
  let offset = 0;
  for (const [name, t] of Object.entries(tensors)) {
    const count = t.shape.reduce((a, b) => a * b, 1);
    if (count !== t.data.length) {
      throw new Error(
        `tensor "${name}": shape [${t.shape}] holds ${count} values but data has ${t.data.length}`,
      );
    }
    const dtype = t.dtype ?? 'F32';
    const byteLength = count * BYTES_PER_ELEMENT[dtype];
    header[name] = { dtype, shape: t.shape, data_offsets: [offset, offset + byteLength] };
    offset += byteLength;
  }
  // Pad the header with spaces so the data starts 8-byte aligned, as the reference writer does. Tests turn
  // this off to check the reader copes with data at odd offsets.
  let headerText = JSON.stringify(header);
  if (options.padHeader !== false)
    headerText += ' '.repeat((8 - ((8 + Buffer.byteLength(headerText)) % 8)) % 8);
  const headerBytes = Buffer.from(headerText, 'utf8');

  const out = new Uint8Array(8 + headerBytes.length + offset);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(headerBytes.length), true);
  out.set(headerBytes, 8);
  let position = 8 + headerBytes.length;
  for (const t of Object.values(tensors)) {
    const dtype = t.dtype ?? 'F32';
    for (let i = 0; i < t.data.length; i++) {
      const v = t.data[i]!;
      if (dtype === 'F32') view.setFloat32(position, v, true);
      else view.setUint16(position, dtype === 'BF16' ? f32ToBf16Bits(v) : f32ToF16Bits(v), true);
      position += BYTES_PER_ELEMENT[dtype];
    }
  }
  return out;
}

export function writeSafetensors(
  file: string,
  tensors: Record<string, TensorToWrite>,
  options: { padHeader?: boolean } = {},
): void {
  writeFileSync(file, encodeSafetensors(tensors, options));
}

/** Writes `dir/<shard file>` for each shard plus `dir/model.safetensors.index.json` mapping tensors to shards. */
export function writeShardedSafetensors(
  dir: string,
  shards: Record<string, Record<string, TensorToWrite>>,
): void {
  const weightMap: Record<string, string> = {};
  let totalSize = 0;
  for (const [file, tensors] of Object.entries(shards)) {
    writeSafetensors(join(dir, file), tensors);
    for (const [name, t] of Object.entries(tensors)) {
      weightMap[name] = file;
      totalSize += t.data.length * BYTES_PER_ELEMENT[t.dtype ?? 'F32'];
    }
  }
  const index = { metadata: { total_size: totalSize }, weight_map: weightMap };
  writeFileSync(join(dir, INDEX_FILE), JSON.stringify(index, null, 2));
}
