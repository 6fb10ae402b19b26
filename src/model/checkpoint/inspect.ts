/**
 * `describeModel(dir)`: a checkpoint's vital statistics for `dhw model inspect`, from config.json and the
 * safetensors headers only (no weights are read), like `df`/`du` for a model: how big is it, and how much
 * KV memory does each token of context cost.
 */
import { loadModelConfig } from './config.ts';
import { BYTES_PER_ELEMENT, type SafetensorsDtype } from './dtypes.ts';
import { kvBytesPerToken } from '../forward-batch.ts';
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
  /** Size of the safetensors files. */
  bytesOnDisk: number;
  /** Dtype holding most of the checkpoint's bytes: "F32", "BF16" or "F16". */
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

export async function describeModel(dir: string): Promise<ModelDescription> {
  const config = loadModelConfig(dir);
  const checkpoint = await SafetensorsCheckpoint.open(dir);
  try {
    let parameters = 0;
    const bytesByDtype = new Map<string, number>();
    for (const name of checkpoint.names()) {
      const info = checkpoint.info(name)!;
      parameters += info.shape.reduce((a, b) => a * b, 1);
      bytesByDtype.set(info.dtype, (bytesByDtype.get(info.dtype) ?? 0) + info.byteLength);
    }
    const dtype = [...bytesByDtype.entries()].sort((a, b) => b[1] - a[1])[0]?.[0] ?? 'F32';
    const dtypeBytes = BYTES_PER_ELEMENT[dtype as SafetensorsDtype] ?? 4;
    const perToken = (bytes: number) =>
      kvBytesPerToken(config.numLayers, config.numKvHeads, config.headDim, bytes);
    const { scaling } = config.rope;
    return {
      dir,
      architecture: config.architecture,
      parameters,
      bytesOnDisk: await checkpoint.bytesOnDisk(),
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
  } finally {
    await checkpoint.close();
  }
}
