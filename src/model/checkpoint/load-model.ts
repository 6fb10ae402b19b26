/**
 * `loadModel(dir)`: the model's "boot sequence". Parse config.json, list the checkpoint's tensors, check
 * that every tensor the config implies is present with the right shape (before reading any data), then
 * read and upcast them. Any gap is a ModelLoadError naming the file, the tensor and the expected shape.
 * A `.gguf` path (or a folder holding one .gguf and no safetensors) goes to gguf/load-gguf.ts instead.
 */
import { basename } from 'node:path';
import { ModelLoadError } from '../../util/errors.ts';
import { getLogger } from '../../util/logger.ts';
import { loadModelConfig, type ModelConfig } from './config.ts';
import { ggufFileFor, loadGguf } from './gguf/load-gguf.ts';
import { SafetensorsCheckpoint } from './safetensors.ts';
import {
  expectedTensors,
  type LayerWeights,
  type LoadedModel,
  type ModelPart,
  type ModelWeights,
  partNeedsTensor,
  selectPart,
  wholeModel,
} from './weights.ts';

const log = getLogger('model');

/** Progress of a checkpoint being read: bytes of tensor data so far, of the total to read. */
export interface LoadProgress {
  doneBytes: number;
  totalBytes: number;
}

/**
 * Loads config and weights from a Hugging Face checkpoint folder, or from a GGUF file (a `.gguf` path, or a
 * folder holding one .gguf and no safetensors): see gguf/load-gguf.ts. With `part` (a pipeline stage), every
 * tensor's shape is still checked but only the part's tensors are read. `onProgress` is called after each
 * safetensors tensor read (a TinyLlama-sized f32 checkpoint is 4.4 GB: the CLI draws a bar from it).
 */
export async function loadModel(
  dir: string,
  part?: ModelPart,
  onProgress?: (p: LoadProgress) => void,
): Promise<LoadedModel> {
  const ggufFile = ggufFileFor(dir);
  if (ggufFile) return part ? selectPart(await loadGguf(ggufFile), part) : loadGguf(ggufFile);
  const config = loadModelConfig(dir);
  const checkpoint = await SafetensorsCheckpoint.open(dir);
  const held = part ?? wholeModel(config);
  try {
    const names = checkTensors(checkpoint, config);
    const tensors = new Map<string, Float32Array>();
    const wanted = [...names].filter(([short]) => partNeedsTensor(config, held, short));
    const progress: LoadProgress = { doneBytes: 0, totalBytes: 0 };
    for (const [, full] of wanted) progress.totalBytes += checkpoint.info(full)?.byteLength ?? 0;
    onProgress?.(progress);
    for (const [short, full] of wanted) {
      tensors.set(short, await checkpoint.read(full));
      progress.doneBytes += checkpoint.info(full)?.byteLength ?? 0;
      onProgress?.(progress);
    }
    const weights = assembleWeights(config, tensors, held);
    log.debug('model loaded', {
      dir,
      architecture: config.architecture,
      layers: config.numLayers,
      tensors: names.size,
    });
    return part ? { config, weights, dir, part } : { config, weights, dir };
  } finally {
    await checkpoint.close();
  }
}

/**
 * Finds each expected tensor (with or without `model.`) and checks its shape.
 * Returns short name → name in the checkpoint.
 */
function checkTensors(checkpoint: SafetensorsCheckpoint, config: ModelConfig): Map<string, string> {
  const files = checkpoint.files.map((f) => basename(f)).join(', ');
  const found = new Map<string, string>();
  for (const [short, shape] of expectedTensors(config)) {
    const candidates = short === 'lm_head.weight' ? [short, `model.${short}`] : [`model.${short}`, short];
    const full = candidates.find((name) => checkpoint.has(name));
    if (!full) {
      throw new ModelLoadError(
        `${files}: tensor "${candidates[0]}" is missing (expected shape [${shape}] for a ${config.architecture} ` +
          `with ${config.numLayers} layers); check the checkpoint matches config.json`,
      );
    }
    const info = checkpoint.info(full)!;
    if (info.shape.length !== shape.length || info.shape.some((d, i) => d !== shape[i])) {
      throw new ModelLoadError(
        `${basename(info.file)}: tensor "${full}" has shape [${info.shape}], expected [${shape}] from config.json`,
      );
    }
    found.set(short, full);
  }
  return found;
}

const NOT_HELD = new Float32Array(0);

/** The weights of `part` (all of them for the whole model); arrays the part does not hold are empty. */
function assembleWeights(config: ModelConfig, t: Map<string, Float32Array>, part: ModelPart): ModelWeights {
  const get = (name: string): Float32Array => t.get(name)!;
  const optional = (name: string): Float32Array | null => t.get(name) ?? null;
  const layers: LayerWeights[] = [];
  for (let l = part.start; l < part.end; l++) {
    const p = `layers.${l}.`;
    layers.push({
      attnNorm: get(`${p}input_layernorm.weight`),
      wq: get(`${p}self_attn.q_proj.weight`),
      wk: get(`${p}self_attn.k_proj.weight`),
      wv: get(`${p}self_attn.v_proj.weight`),
      wo: get(`${p}self_attn.o_proj.weight`),
      bq: optional(`${p}self_attn.q_proj.bias`),
      bk: optional(`${p}self_attn.k_proj.bias`),
      bv: optional(`${p}self_attn.v_proj.bias`),
      bo: optional(`${p}self_attn.o_proj.bias`),
      mlpNorm: get(`${p}post_attention_layernorm.weight`),
      wGate: get(`${p}mlp.gate_proj.weight`),
      wUp: get(`${p}mlp.up_proj.weight`),
      wDown: get(`${p}mlp.down_proj.weight`),
    });
  }
  const embed = optional('embed_tokens.weight') ?? NOT_HELD;
  if (!part.head) return { embed, layers, finalNorm: NOT_HELD, lmHead: NOT_HELD };
  return {
    embed: part.embed ? embed : NOT_HELD,
    layers,
    finalNorm: get('norm.weight'),
    lmHead: config.tieWordEmbeddings ? embed : get('lm_head.weight'),
  };
}
