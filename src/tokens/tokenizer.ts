/**
 * Tokenizer: text ⇄ token ids for one checkpoint, plus its chat template. Built from the checkpoint's
 * tokenizer.json (via @huggingface/tokenizers, with our fixes from library-fixes.ts) and tokenizer_config.json.
 * Contract: `encode`/`decode` reproduce Hugging Face `transformers` exactly (checked against goldens);
 * every load problem is a `TokenizerError` naming the file and the fix.
 * Systems analogy: the codec at the edge of the system, like a TLS/HTTP codec; everything behind it speaks ids.
 */
import { Tokenizer as LibTokenizer } from '@huggingface/tokenizers';
import { TokenizerError } from '../util/errors.ts';
import { getLogger } from '../util/logger.ts';
import {
  type ApplyChatTemplateOptions,
  type ChatMessage,
  ChatTemplate,
  specialTokenContent,
} from './chat-template.ts';
import { applyLibraryFixes } from './library-fixes.ts';
import {
  type JsonObject,
  readTokenizerFiles,
  SPECIAL_TOKEN_KEYS,
  type TokenizerFiles,
} from './tokenizer-files.ts';

const log = getLogger('tokens');

export interface EncodeOptions {
  /** Apply the post-processor (e.g. prepend BOS). Default true, as in transformers. */
  addSpecialTokens?: boolean;
}

export interface DecodeOptions {
  /** Drop special tokens (BOS, EOS, <|im_end|>, ...) from the text. Default false. */
  skipSpecialTokens?: boolean;
}

interface AddedTokenEntry {
  id: number;
  content: string;
  special?: boolean;
}

/** All token strings of a config value: a string, an AddedToken object, a list of either, or a {name: token} map. */
function tokenStrings(value: unknown): string[] {
  if (Array.isArray(value)) return value.flatMap(tokenStrings);
  const content = specialTokenContent(value);
  if (content !== undefined) return [content];
  if (value !== null && typeof value === 'object') return Object.values(value).flatMap(tokenStrings);
  return [];
}

export class Tokenizer {
  /** Number of ids the tokenizer knows (model vocab plus added tokens), like `len(tokenizer)` in transformers. */
  readonly vocabSize: number;
  readonly bosTokenId: number | undefined;
  /** From tokenizer_config's eos_token; callers merge generation_config / config eos ids. */
  readonly eosTokenIds: number[];
  readonly specialTokenIds: Set<number>;
  private readonly cleanUpSpaces: boolean;
  private readonly chatTemplate: ChatTemplate | TokenizerError;

  private constructor(
    private readonly lib: LibTokenizer,
    /** The parsed files it was built from: enough to build the same tokenizer elsewhere (a worker thread). */
    readonly files: TokenizerFiles,
  ) {
    const config = files.tokenizerConfig;
    const added = (files.tokenizerJson.added_tokens ?? []) as AddedTokenEntry[];
    const modelVocabSize = (lib as unknown as { model: { vocab: unknown[] } }).model.vocab.length;
    this.vocabSize = added.reduce((size, t) => Math.max(size, t.id + 1), modelVocabSize);
    this.bosTokenId = this.idsOf(config.bos_token)[0];
    this.eosTokenIds = this.idsOf(config.eos_token);
    this.specialTokenIds = new Set([
      ...added.filter((t) => t.special).map((t) => t.id),
      ...SPECIAL_TOKEN_KEYS.flatMap((key) => this.idsOf(config[key])),
      ...this.idsOf(config.additional_special_tokens),
      ...this.idsOf(config.extra_special_tokens),
    ]);
    this.cleanUpSpaces = config.clean_up_tokenization_spaces === true;
    this.chatTemplate = ChatTemplate.parse(files.chatTemplate, config);
    if (this.chatTemplate instanceof TokenizerError && files.chatTemplate.kind === 'template') {
      log.warn('chat template unusable; chat requests will fail', {
        dir: files.dir,
        error: this.chatTemplate,
      });
    }
  }

  /** Load from a Hugging Face checkpoint directory (tokenizer.json, tokenizer_config.json, chat template). */
  static async fromDir(dir: string): Promise<Tokenizer> {
    const tokenizer = Tokenizer.fromFiles(await readTokenizerFiles(dir));
    log.debug('tokenizer loaded', {
      dir,
      vocabSize: tokenizer.vocabSize,
      chatTemplate: tokenizer.hasChatTemplate,
    });
    return tokenizer;
  }

  /** Build from already-parsed files (tests, or a model fetched from elsewhere). */
  static fromFiles(files: TokenizerFiles): Tokenizer {
    let lib: LibTokenizer;
    try {
      lib = new LibTokenizer(files.tokenizerJson, files.tokenizerConfig);
      applyLibraryFixes(lib, files.tokenizerJson as JsonObject);
    } catch (err) {
      throw new TokenizerError(
        `cannot build a tokenizer from ${files.dir}/tokenizer.json (${(err as Error).message}); check that it is ` +
          'a Hugging Face tokenizers file of a supported model type (BPE, Unigram, WordPiece)',
        { cause: err },
      );
    }
    return new Tokenizer(lib, files);
  }

  get hasChatTemplate(): boolean {
    return this.chatTemplate instanceof ChatTemplate;
  }

  encode(text: string, opts: EncodeOptions = {}): number[] {
    return this.lib.encode(text, { add_special_tokens: opts.addSpecialTokens ?? true }).ids;
  }

  /** Ids the tokenizer does not know (e.g. padding rows of a model's embedding) are skipped, as in transformers. */
  decode(ids: readonly number[], opts: DecodeOptions = {}): string {
    const skip = opts.skipSpecialTokens ?? false;
    const kept = ids.filter(
      (id) => this.lib.id_to_token(id) !== undefined && !(skip && this.specialTokenIds.has(id)),
    );
    if (kept.length === 0) return '';
    return this.lib.decode(kept, {
      skip_special_tokens: false,
      clean_up_tokenization_spaces: this.cleanUpSpaces,
    });
  }

  /** Render the conversation into the prompt text (tokenize it with `encode(text, { addSpecialTokens: false })`). */
  applyChatTemplate(messages: ChatMessage[], opts: ApplyChatTemplateOptions = {}): string {
    if (this.chatTemplate instanceof TokenizerError) throw this.chatTemplate;
    return this.chatTemplate.render(messages, opts);
  }

  idToToken(id: number): string | undefined {
    return this.lib.id_to_token(id);
  }

  tokenToId(token: string): number | undefined {
    return this.lib.token_to_id(token);
  }

  private idsOf(configValue: unknown): number[] {
    return tokenStrings(configValue)
      .map((token) => this.lib.token_to_id(token))
      .filter((id): id is number => id !== undefined);
  }
}
