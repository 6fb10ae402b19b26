export {
  DEFAULT_ACTIVATION_RESERVE_BYTES,
  KernelBackend,
  type KernelKind,
  type KernelOptions,
  type Matrix,
  type Product,
  type Q8Activations,
  type WeightDtype,
} from './backend.ts';
export { matmul, matmuls } from './matmul-calls.ts';
export { matrixBytes, type PreparedLayer, type PreparedWeights, prepareWeights } from './prepare-weights.ts';
export { canQuantizeQ8, dequantizeQ8, type Q8Tensor, quantizeQ8 } from './quantize.ts';
export { ropeInverseFrequencies, ropeTables } from './reference/rope.ts';
