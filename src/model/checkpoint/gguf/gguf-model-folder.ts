/**
 * `ggufModelFolder(file)`: a GGUF file → a model folder every other component already understands:
 * config.json, generation_config.json, tokenizer.json and tokenizer_config.json rebuilt from the GGUF's
 * metadata, plus a symlink `model.gguf` to the file itself (loadModel follows it: a folder holding one
 * .gguf and no safetensors loads through load-gguf.ts).
 *
 * Systems analogy: a FUSE-style view of an archive. The weights are never copied; the small derived files
 * live in a scratch folder keyed by the file's path, size and mtime, named after the file so the served
 * model name is the GGUF's name (`tinyllama-f16.gguf` → model "tinyllama-f16"). Tokenizer, model card,
 * frontend and doctor then need no GGUF code of their own.
 */
import { createHash } from 'node:crypto';
import {
  mkdirSync,
  readlinkSync,
  renameSync,
  statSync,
  symlinkSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import type { ModelConfig } from '../config.ts';
import { readGgufHeader } from './gguf-reader.ts';
import { tokenizerFromGguf } from './gguf-to-tokenizer.ts';
import { ggufModelConfig } from './load-gguf.ts';

/** Where the derived folders live unless told otherwise (per user, like the card cache). */
export const defaultGgufFolderRoot = join(tmpdir(), 'dhw-gguf-models');

/** The name of the link to the weights inside a derived folder. */
export const GGUF_LINK_NAME = 'model.gguf';

/** Builds (or refreshes) the derived folder of `file` under `root` and returns its path. */
export function ggufModelFolder(file: string, root = defaultGgufFolderRoot): string {
  const source = resolve(file);
  const stat = statSync(source);
  const key = createHash('sha256').update(`${source}\n${stat.size}\n${stat.mtimeMs}`).digest('hex');
  const dir = join(root, key.slice(0, 16), basename(source, '.gguf'));
  mkdirSync(dir, { recursive: true });

  const header = readGgufHeader(source);
  const config = ggufModelConfig(header.metadata, source, header.tensors.has('output.weight'));
  const attentionBias = header.tensors.has('blk.0.attn_q.bias');
  const { tokenizerJson, tokenizerConfig } = tokenizerFromGguf(header.metadata, source);
  writeJsonAtomically(join(dir, 'config.json'), hfConfig(config, attentionBias));
  writeJsonAtomically(join(dir, 'generation_config.json'), {
    bos_token_id: config.bosTokenId,
    eos_token_id: config.eosTokenIds.length === 1 ? config.eosTokenIds[0] : config.eosTokenIds,
  });
  writeJsonAtomically(join(dir, 'tokenizer.json'), tokenizerJson);
  writeJsonAtomically(join(dir, 'tokenizer_config.json'), tokenizerConfig);
  linkTo(join(dir, GGUF_LINK_NAME), source);
  return dir;
}

/** The Hugging Face config.json that loadModelConfig parses back into `config`. */
function hfConfig(config: ModelConfig, attentionBias: boolean): Record<string, unknown> {
  const { scaling } = config.rope;
  return {
    architectures: [config.architecture],
    model_type: 'llama',
    hidden_size: config.hiddenSize,
    intermediate_size: config.intermediateSize,
    num_hidden_layers: config.numLayers,
    num_attention_heads: config.numHeads,
    num_key_value_heads: config.numKvHeads,
    head_dim: config.headDim,
    vocab_size: config.vocabSize,
    rms_norm_eps: config.rmsNormEps,
    max_position_embeddings: config.maxPositionEmbeddings,
    tie_word_embeddings: config.tieWordEmbeddings,
    attention_bias: attentionBias,
    hidden_act: 'silu',
    rope_theta: config.rope.theta,
    rope_scaling: scaling.type === 'linear' ? { rope_type: 'linear', factor: scaling.factor } : null,
    bos_token_id: config.bosTokenId,
    eos_token_id: config.eosTokenIds.length === 1 ? config.eosTokenIds[0] : config.eosTokenIds,
    torch_dtype: config.declaredDtype,
  };
}

/** Write-then-rename, so a second process starting on the same GGUF never reads a half-written file. */
function writeJsonAtomically(path: string, value: unknown): void {
  const temp = `${path}.${process.pid}.tmp`;
  writeFileSync(temp, `${JSON.stringify(value, null, 2)}\n`);
  renameSync(temp, path);
}

function linkTo(link: string, target: string): void {
  try {
    if (readlinkSync(link) === target) return;
    unlinkSync(link);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  try {
    symlinkSync(target, link);
  } catch (err) {
    // Another process made the same link between our check and our symlink: theirs is as good.
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
}
