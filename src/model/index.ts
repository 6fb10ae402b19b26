export { pagedAttention, writeKvSlots } from './kernels/reference/attention.ts';
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
  ggufFileFor,
  ggufModelFolder,
  loadGguf,
  readGgufHeader,
  writeGguf,
} from './checkpoint/gguf/index.ts';
export {
  RANDOM_SHAPES,
  type RandomCheckpoint,
  type RandomShape,
  writeRandomCheckpoint,
  writeRandomCheckpointAsync,
  CheckpointWriteAborted,
  type WriteProgress,
} from './checkpoint/random-checkpoint.ts';
export {
  allocateKvCacheTensors,
  type ForwardBatch,
  type KvCacheTensors,
  kvBytesPerToken,
  type SequenceSlice,
  slotOf,
} from './forward-batch.ts';
export { describeModel, type KvBytes, type ModelDescription } from './checkpoint/inspect.ts';
export { dot, matmul } from './kernels/reference/matmul.ts';
export { add, argmax, rmsnorm, silu, softmax, swiglu } from './kernels/reference/row-ops.ts';
export { applyRope, ropeInverseFrequencies, ropeTables } from './kernels/reference/rope.ts';
export { readSafetensorsHeader, SafetensorsCheckpoint, type TensorInfo } from './checkpoint/safetensors.ts';
export {
  encodeSafetensors,
  type TensorToWrite,
  writeSafetensors,
  writeShardedSafetensors,
} from './checkpoint/safetensors-writer.ts';
export { type LogitsWanted, makeBatch, type SequenceChunk } from './batch-builder.ts';
export {
  type GreedyOptions,
  greedyGenerate,
  makeSingleSequenceBatch,
  SequenceSession,
  type SessionOptions,
} from './sequence-session.ts';
export { loadModel } from './checkpoint/load-model.ts';
export {
  expectedTensors,
  type LayerWeights,
  type LoadedModel,
  type ModelPart,
  type ModelWeights,
  wholeModel,
} from './checkpoint/weights.ts';
export * from './parallel/index.ts';
export { describeSplit, splitLayers } from './parallel/pipeline-split.ts';
export { heldWeightBytes, kvCacheBytes } from './parallel/held-memory.ts';
