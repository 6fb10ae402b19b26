export { pagedAttention, writeKvSlots } from './attention.ts';
export {
  type Architecture,
  loadModelConfig,
  type ModelConfig,
  parseModelConfig,
  type RopeConfig,
  type RopeScaling,
  SUPPORTED_ARCHITECTURES,
} from './checkpoint/config.ts';
export { BYTES_PER_ELEMENT, type SafetensorsDtype } from './checkpoint/dtypes.ts';
export { LlamaModel, type ModelOptions } from './forward.ts';
export {
  type ConvertResult,
  convertToGguf,
  GgufFile,
  type GgufExportDtype,
  loadGguf,
  readGgufHeader,
  writeGguf,
} from './checkpoint/gguf/index.ts';
export {
  RANDOM_SHAPES,
  type RandomCheckpoint,
  type RandomShape,
  writeRandomCheckpoint,
} from './checkpoint/random-checkpoint.ts';
export {
  allocateKvCacheTensors,
  type ForwardBatch,
  type KvCacheTensors,
  kvBytesPerToken,
  type SequenceSlice,
} from './forward-batch.ts';
export { describeModel, type KvBytes, type ModelDescription } from './checkpoint/inspect.ts';
export { add, argmax, dot, matmul, rmsnorm, silu, softmax, swiglu } from './kernels.ts';
export { applyRope, ropeInverseFrequencies, ropeTables } from './rope.ts';
export { readSafetensorsHeader, SafetensorsCheckpoint, type TensorInfo } from './checkpoint/safetensors.ts';
export {
  encodeSafetensors,
  type TensorToWrite,
  writeSafetensors,
  writeShardedSafetensors,
} from './checkpoint/safetensors-writer.ts';
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
export { loadModel } from './checkpoint/load-model.ts';
export {
  expectedTensors,
  type LayerWeights,
  type LoadedModel,
  type ModelWeights,
} from './checkpoint/weights.ts';
