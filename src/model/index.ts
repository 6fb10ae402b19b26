export { pagedAttention, writeKvSlots } from './attention.ts';
export {
  type Architecture,
  loadModelConfig,
  type ModelConfig,
  parseModelConfig,
  type RopeConfig,
  type RopeScaling,
  SUPPORTED_ARCHITECTURES,
} from './config.ts';
export { BYTES_PER_ELEMENT, type SafetensorsDtype } from './dtypes.ts';
export { LlamaModel, type ModelOptions } from './forward.ts';
export {
  type ConvertResult,
  convertToGguf,
  GgufFile,
  type GgufExportDtype,
  loadGguf,
  readGgufHeader,
  writeGguf,
} from './gguf/index.ts';
export {
  RANDOM_SHAPES,
  type RandomCheckpoint,
  type RandomShape,
  writeRandomCheckpoint,
} from './random-checkpoint.ts';
export {
  allocateKvCacheTensors,
  type ForwardBatch,
  type KvCacheTensors,
  kvBytesPerToken,
  type SequenceSlice,
} from './forward-batch.ts';
export { describeModel, type KvBytes, type ModelDescription } from './inspect.ts';
export { add, argmax, dot, matmul, rmsnorm, silu, softmax, swiglu } from './kernels.ts';
export { applyRope, ropeInverseFrequencies, ropeTables } from './rope.ts';
export { readSafetensorsHeader, SafetensorsCheckpoint, type TensorInfo } from './safetensors.ts';
export {
  encodeSafetensors,
  type TensorToWrite,
  writeSafetensors,
  writeShardedSafetensors,
} from './safetensors-writer.ts';
export {
  type GreedyOptions,
  greedyGenerate,
  type LogitsWanted,
  makeBatch,
  makeSingleSequenceBatch,
  type SequenceChunk,
  SequenceSession,
  type SessionOptions,
} from './simple-batch.ts';
export {
  expectedTensors,
  type LayerWeights,
  type LoadedModel,
  loadModel,
  type ModelWeights,
} from './weights.ts';
