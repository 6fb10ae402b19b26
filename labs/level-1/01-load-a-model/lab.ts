/**
 * Lab 1.1: open a checkpoint. Reads config.json, the safetensors header by hand and with our reader, counts
 * parameters, loads the weights (timed, with process memory), and times one pass over every weight: the
 * floor under any decode step. Like reading a disk image's partition table before mounting it.
 *
 * @expect Header length (first 8 bytes, u64 LE)
 * @expect /Parameter count: 4,951,296 \(golden\.json: 4,951,296\)/
 * @expect Every tensor the config implies is present with the right shape
 * @expect Loaded 56 tensors
 * @expect Lab complete.
 */

import { readFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import {
  describeModel,
  expectedTensors,
  loadModel,
  loadModelConfig,
  type ModelWeights,
  readSafetensorsHeader,
  type TensorInfo,
} from '../../../src/model/index.ts';
import { defaultModelDir } from '../../../src/util/paths.ts';
import {
  argValue,
  banner,
  formatBytes,
  formatMs,
  isSmoke,
  note,
  printTable,
  runLab,
  step,
  timed,
} from '../../lib/lab-kit.ts';
import { memoryDelta, memorySnapshot } from '../../lib/memory.ts';

const MODEL_DIR = argValue('model') ?? defaultModelDir;
const WEIGHTS_FILE = join(MODEL_DIR, 'model.safetensors');

/** The safetensors framing, read with nothing but positioned reads: u64 length, then that much JSON. */
async function readHeaderByHand(
  file: string,
): Promise<{ headerLength: number; header: Record<string, unknown> }> {
  const handle = await open(file, 'r');
  try {
    const lengthBytes = Buffer.alloc(8);
    await handle.read(lengthBytes, 0, 8, 0);
    const headerLength = Number(lengthBytes.readBigUInt64LE(0));
    const headerBytes = Buffer.alloc(headerLength);
    await handle.read(headerBytes, 0, headerLength, 8);
    return { headerLength, header: JSON.parse(headerBytes.toString('utf8')) };
  } finally {
    await handle.close();
  }
}

const count = (shape: number[]) => shape.reduce((a, b) => a * b, 1);
const thousands = (n: number) => n.toLocaleString('en-US');

/** Which part of the network a tensor belongs to, for the parameter breakdown. */
function group(name: string): string {
  if (name.includes('embed_tokens')) return 'embedding (vocab x dim)';
  if (name.includes('lm_head')) return 'LM head (untied)';
  if (name.includes('self_attn')) return 'attention q/k/v/o (all layers)';
  if (name.includes('mlp')) return 'MLP gate/up/down (all layers)';
  return 'norms (RMSNorm scales)';
}

/** Every distinct weight array (a tied LM head is the embedding array itself). */
function weightArrays(weights: ModelWeights): Float32Array[] {
  const arrays = new Set<Float32Array>([weights.embed, weights.finalNorm, weights.lmHead]);
  for (const layer of weights.layers) {
    for (const value of Object.values(layer)) if (value) arrays.add(value);
  }
  return [...arrays];
}

/** One read of every weight: what a batch-of-one decode step cannot avoid. */
function touchAll(arrays: Float32Array[]): number {
  let sum = 0;
  for (const array of arrays) for (let i = 0; i < array.length; i++) sum += array[i] as number;
  return sum;
}

async function main(): Promise<void> {
  banner('1.1', 'Load a model');
  note(`model folder: ${MODEL_DIR}`);

  step('config.json: the schema of the checkpoint');
  const config = loadModelConfig(MODEL_DIR);
  printTable(
    ['field', 'value', 'meaning'],
    [
      ['architecture', config.architecture, 'which code runs it'],
      ['hidden size', config.hiddenSize, 'width of the vector each token carries'],
      ['layers', config.numLayers, 'transformer blocks, applied in sequence'],
      [
        'heads / KV heads',
        `${config.numHeads} / ${config.numKvHeads}`,
        'attention heads; KV heads < heads = grouped-query',
      ],
      ['head dim', config.headDim, 'width of one head'],
      ['intermediate size', config.intermediateSize, 'width inside the MLP'],
      ['vocab size', config.vocabSize, 'token ids the model knows'],
      ['context length', config.maxPositionEmbeddings, 'most tokens per sequence'],
      ['tied embeddings', String(config.tieWordEmbeddings), 'output layer reuses the input table'],
      ['declared dtype', config.declaredDtype ?? 'unknown', 'precision of the stored weights'],
    ],
  );

  step('The safetensors header, by hand');
  const { headerLength, header } = await readHeaderByHand(WEIGHTS_FILE);
  note(`Header length (first 8 bytes, u64 LE): ${thousands(headerLength)} bytes`);
  note(
    `Header entries: ${Object.keys(header).length} (tensors + __metadata__ ${JSON.stringify(header.__metadata__ ?? null)})`,
  );
  const [firstName, firstEntry] = Object.entries(header).find(([name]) => name !== '__metadata__') ?? [];
  note(`First entry: "${firstName}": ${JSON.stringify(firstEntry)}`);
  note(`Tensor data starts at byte 8 + ${thousands(headerLength)} = ${thousands(8 + headerLength)}`);

  step('Every tensor: name, dtype, shape, bytes (our reader: src/model/checkpoint/safetensors.ts)');
  const tensors = [...(await readSafetensorsHeader(WEIGHTS_FILE)).values()].sort(
    (a, b) => a.position - b.position,
  );
  const shown = isSmoke() ? tensors.filter((t) => !/layers\.[1-9]/.test(t.name)) : tensors;
  printTable(
    ['name', 'dtype', 'shape', 'params', 'bytes'],
    shown.map((t: TensorInfo) => [t.name, t.dtype, `[${t.shape.join(', ')}]`, count(t.shape), t.byteLength]),
  );
  if (shown.length < tensors.length) note(`(smoke mode: layers 1-${config.numLayers - 1} not shown)`);
  const dataBytes = tensors.reduce((sum, t) => sum + t.byteLength, 0);
  note(`${tensors.length} tensors, ${thousands(dataBytes)} bytes of data (${formatBytes(dataBytes)})`);

  step('Parameter count');
  const parameters = tensors.reduce((sum, t) => sum + count(t.shape), 0);
  const byGroup = new Map<string, number>();
  for (const t of tensors) byGroup.set(group(t.name), (byGroup.get(group(t.name)) ?? 0) + count(t.shape));
  printTable(
    ['part', 'parameters', 'share'],
    [...byGroup].map(([part, n]) => [part, n, `${((100 * n) / parameters).toFixed(1)} %`]),
  );
  const golden = JSON.parse(readFileSync(join(MODEL_DIR, 'golden.json'), 'utf8')) as { params?: number };
  note(
    `Parameter count: ${thousands(parameters)} (golden.json: ${golden.params ? thousands(golden.params) : 'n/a'})`,
  );
  if (golden.params !== undefined && golden.params !== parameters) {
    throw new Error(`parameter count ${parameters} differs from golden.json's ${golden.params}`);
  }
  const expected = expectedTensors(config);
  const byShortName = new Map(tensors.map((t) => [t.name.replace(/^model\./, ''), t]));
  const mismatched = [...expected].filter(
    ([name, shape]) => byShortName.get(name)?.shape.join() !== shape.join(),
  );
  if (mismatched.length > 0)
    throw new Error(`tensors missing or misshaped: ${mismatched.map(([n]) => n).join(', ')}`);
  note(`Every tensor the config implies is present with the right shape (${expected.size} checked).`);

  step('describeModel(): the same facts as `npx dhw model inspect`');
  const described = await describeModel(MODEL_DIR);
  printTable(
    ['field', 'value'],
    [
      ['parameters', thousands(described.parameters)],
      ['bytes on disk', `${thousands(described.bytesOnDisk)} (${formatBytes(described.bytesOnDisk)})`],
      ['stored dtype', described.dtype],
      ['rope', described.rope],
      [
        'KV bytes per token (fp32 / checkpoint dtype)',
        `${described.kvBytesPerToken.fp32} / ${described.kvBytesPerToken.checkpointDtype}`,
      ],
      ['KV bytes at full context', formatBytes(described.kvBytesAtFullContext.fp32)],
    ],
  );

  step('Load the weights into memory (bf16 on disk → fp32 arrays)');
  const before = await memorySnapshot();
  const { result: loaded, ms: loadMs } = await timed(() => loadModel(MODEL_DIR));
  const delta = memoryDelta(before, await memorySnapshot());
  const arrays = weightArrays(loaded.weights);
  const fp32Bytes = arrays.reduce((sum, a) => sum + a.byteLength, 0);
  note(`Loaded ${tensors.length} tensors in ${formatMs(loadMs)}`);
  printTable(
    ['quantity', 'bytes', 'human'],
    [
      ['on disk (bf16)', dataBytes, formatBytes(dataBytes)],
      ['fp32 weight arrays (predicted: params x 4)', fp32Bytes, formatBytes(fp32Bytes)],
      ['arrayBuffers growth (measured)', delta.arrayBuffers, formatBytes(delta.arrayBuffers)],
      ['RSS growth (measured)', delta.rss, formatBytes(delta.rss)],
    ],
  );

  step('Touch every weight once: the floor under one decode step');
  const rounds = isSmoke() ? 2 : 10;
  touchAll(arrays); // warm-up: JIT and caches
  const { ms } = await timed(() => {
    for (let r = 0; r < rounds; r++) touchAll(arrays);
  });
  const perPass = ms / rounds;
  note(
    `One pass over ${formatBytes(fp32Bytes)} of weights: ${formatMs(perPass)} ` +
      `(${(fp32Bytes / perPass / 1e6).toFixed(2)} GB/s, ${rounds} rounds, one core)`,
  );
  note(
    'A decode step multiplies every weight once per token, so it cannot beat this by much. Compare Lab 1.2.',
  );
}

runLab(main);
