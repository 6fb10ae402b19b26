/**
 * `describeModel(dir)`: a checkpoint's vital statistics for `dhw model inspect`, from config.json and the
 * safetensors headers only (no weights are read), like `df`/`du` for a model: how big is it, and how much
 * KV memory does each token of context cost.
 */
import { statSync } from 'node:fs';
import { kvBytesPerToken } from '../forward-batch.ts';
import { loadModelConfig, type ModelConfig } from './config.ts';
import { BYTES_PER_ELEMENT, type SafetensorsDtype } from './dtypes.ts';
import { readGgufHeader } from './gguf/gguf-reader.ts';
import { ggufFileFor, ggufModelConfig } from './gguf/load-gguf.ts';
import { SafetensorsCheckpoint } from './safetensors.ts';

/** A byte count two ways: as our cache stores it (fp32) and at the checkpoint's dtype (what GPU engines use). */
export interface KvBytes {
  fp32: number;
  checkpointDtype: number;
}

export interface ModelDescription {
  dir: string;
  architecture: string;
  /** Parameters stored in the checkpoint (a tied LM head counts once, as in Hugging Face's num_parameters). */
  parameters: number;
  /** Size of the safetensors files (or of the GGUF file). */
  bytesOnDisk: number;
  /** Dtype holding most of the checkpoint's bytes: "F32", "BF16" or "F16" (GGUF: also "Q8_0"). */
  dtype: string;
  layers: number;
  hidden: number;
  intermediate: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  vocab: number;
  contextLength: number;
  tieWordEmbeddings: boolean;
  rope: string;
  eosTokenIds: number[];
  kvBytesPerToken: KvBytes;
  kvBytesAtFullContext: KvBytes;
}

interface TensorStats {
  config: ModelConfig;
  parameters: number;
  bytesOnDisk: number;
  dtype: string;
}

/** Config, parameters, bytes and dominant dtype from headers alone: safetensors, or a GGUF (file or folder). */
async function tensorStats(dir: string): Promise<TensorStats> {
  const gguf = ggufFileFor(dir);
  const tensors: { shape: number[]; dtype: string; byteLength: number }[] = [];
  let bytesOnDisk: number;
  let config: ModelConfig;
  if (gguf) {
    const header = readGgufHeader(gguf);
    config = ggufModelConfig(header.metadata, gguf, header.tensors.has('output.weight'));
    for (const t of header.tensors.values()) tensors.push({ ...t, dtype: t.type });
    bytesOnDisk = statSync(gguf).size;
  } else {
    config = loadModelConfig(dir);
    const checkpoint = await SafetensorsCheckpoint.open(dir);
    try {
      for (const name of checkpoint.names()) tensors.push(checkpoint.info(name)!);
      bytesOnDisk = await checkpoint.bytesOnDisk();
    } finally {
      await checkpoint.close();
    }
  }
  let parameters = 0;
  const bytesByDtype = new Map<string, number>();
  for (const t of tensors) {
    parameters += t.shape.reduce((a, b) => a * b, 1);
    bytesByDtype.set(t.dtype, (bytesByDtype.get(t.dtype) ?? 0) + t.byteLength);
  }
  const dtype = [...bytesByDtype.entries()].sort((a, b) => b[1] - a[1])[0]?.[0] ?? 'F32';
  return { config, parameters, bytesOnDisk, dtype };
}

/** Bytes per KV value at the checkpoint's dtype; quantized weights (Q8_0) still keep a 16-bit KV cache. */
function kvValueBytes(dtype: string): number {
  if (dtype === 'Q8_0') return 2;
  return BYTES_PER_ELEMENT[dtype as SafetensorsDtype] ?? 4;
}

export async function describeModel(dir: string): Promise<ModelDescription> {
  const { config, parameters, bytesOnDisk, dtype } = await tensorStats(dir);
  const dtypeBytes = kvValueBytes(dtype);
  const perToken = (bytes: number) =>
    kvBytesPerToken(config.numLayers, config.numKvHeads, config.headDim, bytes);
  const { scaling } = config.rope;
  return {
    dir,
    architecture: config.architecture,
    parameters,
    bytesOnDisk,
    dtype,
    layers: config.numLayers,
    hidden: config.hiddenSize,
    intermediate: config.intermediateSize,
    heads: config.numHeads,
    kvHeads: config.numKvHeads,
    headDim: config.headDim,
    vocab: config.vocabSize,
    contextLength: config.maxPositionEmbeddings,
    tieWordEmbeddings: config.tieWordEmbeddings,
    rope: `theta ${config.rope.theta}, ${scaling.type}${'factor' in scaling ? ` ×${scaling.factor}` : ''}`,
    eosTokenIds: config.eosTokenIds,
    kvBytesPerToken: { fp32: perToken(4), checkpointDtype: perToken(dtypeBytes) },
    kvBytesAtFullContext: {
      fp32: perToken(4) * config.maxPositionEmbeddings,
      checkpointDtype: perToken(dtypeBytes) * config.maxPositionEmbeddings,
    },
  };
}
