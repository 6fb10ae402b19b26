export {
  arr,
  bool,
  f32,
  GGML_TYPE,
  type GgmlTypeName,
  type GgufArray,
  type GgufMetadata,
  type GgufValue,
  i32,
  str,
  u32,
} from './gguf-format.ts';
export { GgufFile, type GgufHeader, type GgufTensorInfo, readGgufHeader } from './gguf-reader.ts';
export { defaultGgufFolderRoot, GGUF_LINK_NAME, ggufModelFolder } from './gguf-model-folder.ts';
export { type RebuiltTokenizer, tokenizerFromGguf } from './gguf-to-tokenizer.ts';
export { ggufTokenizerMetadata } from './gguf-tokenizer.ts';
export { encodeGgufHeader, type GgufTensorToWrite, writeGguf } from './gguf-writer.ts';
export {
  type ConvertOptions,
  type ConvertResult,
  convertToGguf,
  type GgufExportDtype,
} from './hf-to-gguf.ts';
export { ggufToHfName, hfToGgufName, permuteForGguf, unpermuteFromGguf } from './llama-layout.ts';
export { ggufFileFor, ggufModelConfig, loadGguf } from './load-gguf.ts';
export { decodeTensor, encodeTensor } from './tensor-codec.ts';
