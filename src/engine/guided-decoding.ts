/**
 * Constrained ("guided") decoding: output that must be JSON, or JSON matching a schema. Before each
 * sampling step a sequence's grammar matcher says which tokens may come next, as a bitmask over the
 * vocabulary (bit set = allowed); the sampler drops every other token; the sampled token then advances the
 * matcher. Like a protocol state machine on a connection that only lets the bytes of a valid next frame
 * through. The grammar work is xgrammar's (`xgrammar.ts`): it compiles a JSON Schema into a pushdown
 * automaton over the tokenizer's vocabulary and precomputes which tokens each state accepts, so a mask
 * costs microseconds, not a walk over the vocabulary (fortune-llama, 2,048 tokens: ~0.1 ms CPU per mask
 * and accept; the first schema ~0.25 s with the vocabulary's preprocessing).
 *
 *   GuidedDecoder (per engine: the vocabulary, compiled grammars cached by schema)
 *     └─ constrain(spec, stopTokenIds) → TokenConstraint (per sequence: nextMask, accept, dispose)
 *
 * JSON is compact (`, ` and `: ` separators, no other whitespace): a small model left free to emit
 * whitespace can fill max_tokens with it. Schemas are compiled in strict mode (no properties beyond
 * `properties`), so the output validates against the schema as sent.
 */
import type { CompiledGrammar, GrammarCompiler, GrammarMatcher } from '@mlc-ai/web-xgrammar';
import type { GuidedDecodingSpec } from '../protocols/engine.ts';
import { readTokenizerFiles } from '../tokens/index.ts';
import { InvalidRequestError } from '../util/errors.ts';
import { loadXGrammar } from './xgrammar.ts';

/** One sequence's grammar state. */
export interface TokenConstraint {
  /** Allowed next tokens: bit (id % 32) of word ⌊id / 32⌋. */
  nextMask(): Promise<Int32Array>;
  /** Advance past the sampled token; false if the grammar did not allow it. */
  accept(tokenId: number): boolean;
  dispose(): void;
}

/** Compiled grammars kept per decoder (a schema sent again is not compiled again). */
const MAX_CACHED_GRAMMARS = 64;

type JsonObject = Record<string, unknown>;

/**
 * How xgrammar must read the vocabulary's token strings: GPT-2 byte-level (`Ġ` = space), SentencePiece
 * byte fallback (`▁` = space, `<0x0A>` = a byte), or plain text. Read from tokenizer.json's decoder, as
 * xgrammar's Hugging Face loader does.
 */
export function vocabTypeOf(tokenizerJson: JsonObject): 'byte_level' | 'byte_fallback' | 'raw' {
  const decoder = JSON.stringify(tokenizerJson.decoder ?? null);
  if (decoder.includes('"ByteLevel"')) return 'byte_level';
  if (decoder.includes('"ByteFallback"')) return 'byte_fallback';
  return 'raw';
}

/**
 * The token string of every id below `vocabSize` (the model's logits width): the model vocabulary's, then
 * added tokens'. Special tokens and ids the tokenizer does not know (a model's padding rows) are empty
 * strings, which xgrammar never allows inside the grammar (only as stop tokens).
 */
export function encodedVocab(tokenizerJson: JsonObject, vocabSize: number): string[] {
  const vocab: string[] = Array.from({ length: vocabSize }, () => '');
  const model = tokenizerJson.model as { vocab?: Record<string, number> | [string, number][] } | undefined;
  const entries: [string, number][] = Array.isArray(model?.vocab)
    ? model.vocab.map(([token], id) => [token, id])
    : Object.entries(model?.vocab ?? {});
  for (const [token, id] of entries) if (id < vocabSize) vocab[id] = token;
  const added = (tokenizerJson.added_tokens ?? []) as { id: number; content: string; special?: boolean }[];
  for (const t of added) if (t.id < vocabSize) vocab[t.id] = t.special ? '' : t.content;
  return vocab;
}

export class GuidedDecoder {
  private compiler: Promise<GrammarCompiler> | undefined;
  private readonly grammars = new Map<string, Promise<CompiledGrammar>>();

  /**
   * `tokenizerJson`: reads the model's tokenizer.json (called on the first guided request, not before);
   * `vocabSize`: the model's logits width.
   */
  constructor(
    private readonly tokenizerJson: () => Promise<JsonObject>,
    private readonly vocabSize: number,
  ) {}

  /** A decoder over the model folder's tokenizer (`readTokenizerFiles`). */
  static forModelDir(modelDir: string, vocabSize: number): GuidedDecoder {
    return new GuidedDecoder(async () => (await readTokenizerFiles(modelDir)).tokenizerJson, vocabSize);
  }

  /**
   * A matcher for one sequence. `stopTokenIds` end the sequence once the JSON is complete (and only
   * then). Rejects with an InvalidRequestError when the schema cannot be compiled.
   */
  async constrain(spec: GuidedDecodingSpec, stopTokenIds: readonly number[]): Promise<TokenConstraint> {
    const xg = loadXGrammar();
    const grammar = await this.compile(spec.schema);
    const matcher = await xg.GrammarMatcher.createGrammarMatcher(grammar, [...stopTokenIds]);
    for (const id of spec.acceptedTokenIds ?? []) {
      if (!matcher.acceptToken(id)) {
        matcher.dispose();
        throw new InvalidRequestError(
          `guidedDecoding.acceptedTokenIds: token ${id} does not continue the JSON generated so far`,
          'response_format',
        );
      }
    }
    return matcherConstraint(matcher);
  }

  private compile(schema: string): Promise<CompiledGrammar> {
    const cached = this.grammars.get(schema);
    if (cached) return cached;
    const compiled = this.compileNew(schema);
    compiled.catch(() => this.grammars.delete(schema)); // a bad schema is not remembered
    if (this.grammars.size >= MAX_CACHED_GRAMMARS) {
      // Free the oldest's WebAssembly memory; matchers made from it keep their own reference to it.
      const oldest = this.grammars.keys().next().value as string;
      const evicted = this.grammars.get(oldest);
      this.grammars.delete(oldest);
      evicted?.then((g) => g.dispose()).catch(() => {});
    }
    this.grammars.set(schema, compiled);
    return compiled;
  }

  private async compileNew(schema: string): Promise<CompiledGrammar> {
    const compiler = await this.getCompiler();
    try {
      // No free whitespace, indent -1 (one line), `, ` and `: ` separators; strict: no extra properties.
      return await compiler.compileJSONSchema(schema, false, -1, [', ', ': '], true);
    } catch (err) {
      throw new InvalidRequestError(
        `the JSON schema cannot be used for constrained decoding: ${errorText(err)}`,
        'response_format',
      );
    }
  }

  private getCompiler(): Promise<GrammarCompiler> {
    this.compiler ??= (async () => {
      const xg = loadXGrammar();
      const json = await this.tokenizerJson();
      const vocabType = vocabTypeOf(json);
      const info = await xg.TokenizerInfo.createTokenizerInfo(
        encodedVocab(json, this.vocabSize),
        vocabType,
        vocabType === 'byte_fallback',
        this.vocabSize,
      );
      return xg.GrammarCompiler.createGrammarCompiler(info);
    })();
    return this.compiler;
  }
}

function matcherConstraint(matcher: GrammarMatcher): TokenConstraint {
  let disposed = false;
  return {
    nextMask: () => matcher.getNextTokenBitmask(),
    accept: (tokenId) => (matcher.isTerminated() ? false : matcher.acceptToken(tokenId)),
    dispose: () => {
      if (disposed) return;
      disposed = true;
      matcher.dispose();
    },
  };
}

/** xgrammar's errors arrive as Error objects, strings or WebAssembly exception pointers. */
function errorText(err: unknown): string {
  if (err instanceof Error) return err.message;
  return typeof err === 'string' ? err : 'the grammar compiler rejected it';
}

/** Whether `tokenId` is allowed by `mask`. */
export function maskAllows(mask: Int32Array, tokenId: number): boolean {
  return ((mask[tokenId >>> 5]! >>> (tokenId & 31)) & 1) === 1;
}
