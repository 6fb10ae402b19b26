/** Public API of the tokens component: tokenizer, chat templates, streaming detokenizer, block hashes. */
export {
  appendBlockHashes,
  BLOCK_HASH_SEED,
  type BlockHashes,
  chainBlockHash,
  computeBlockHashes,
  hashBlockTokens,
} from './block-hash.ts';
export type { ApplyChatTemplateOptions, ChatMessage, ChatTextPart } from './chat-template.ts';
export { StreamingDetokenizer, type StreamingDetokenizerOptions } from './detokenizer.ts';
export {
  type ChatGolden,
  type EncodeGolden,
  loadModelSamples,
  loadTokenizerGoldens,
  type ModelSampleGolden,
  type TokenizerGolden,
} from './golden.ts';
export { type DecodeOptions, type EncodeOptions, Tokenizer } from './tokenizer.ts';
export { type ChatTemplateSource, readTokenizerFiles, type TokenizerFiles } from './tokenizer-files.ts';
