/**
 * Patches for the places where `@huggingface/tokenizers` 0.2 differs from Hugging Face's Rust `tokenizers` (the
 * reference every checkpoint's goldens come from). We keep the library for everything it gets right and swap in
 * our own component where it does not, like replacing one faulty card in a rack instead of the whole chassis.
 *
 * - `Split` pre-tokenizer with behavior MergedWithPrevious / MergedWithNext / Contiguous: the library handles them
 *   as Isolated. Replaced by `ExactSplitPreTokenizer`, at the top level or inside a `Sequence`.
 * - `Metaspace` pre-tokenizer and decoder: the library ignores `split` and `add_prefix_space: false`, and decodes
 *   the first token differently. Replaced by `ExactMetaspacePreTokenizer` / `ExactMetaspaceDecoder`.
 * - `ByteFallback` decoder: for an invalid UTF-8 run the reference emits one U+FFFD per byte token; the library
 *   emits the WHATWG replacement (often a single U+FFFD). Replaced by `ExactByteFallbackDecoder`.
 */
import type { Tokenizer as LibTokenizer } from '@huggingface/tokenizers';
import { ByteFallbackDecoder } from '@huggingface/tokenizers';
import { ExactMetaspaceDecoder, ExactMetaspacePreTokenizer, type MetaspaceConfig } from './metaspace.ts';
import { ExactSplitPreTokenizer, type SplitConfig } from './split-pre-tokenizer.ts';

/** The library's components, seen as plain objects so we can swap children in place. */
type Component = Record<string, unknown>;
interface ComponentConfig {
  type?: string;
  [key: string]: unknown;
}

const LIBRARY_SPLIT_BEHAVIORS = new Set(['Removed', 'Isolated']);
const BYTE_TOKEN = /^<0x([0-9A-Fa-f]{2})>$/;

/** Byte-fallback decoding with the reference's error policy: a run that is not valid UTF-8 → one U+FFFD per byte. */
export class ExactByteFallbackDecoder extends ByteFallbackDecoder {
  private readonly strictDecoder = new TextDecoder('utf-8', { fatal: true });

  override decode_chain(tokens: string[]): string[] {
    const out: string[] = [];
    let pendingBytes: number[] = [];
    const flushBytes = () => {
      if (pendingBytes.length === 0) return;
      try {
        out.push(this.strictDecoder.decode(Uint8Array.from(pendingBytes)));
      } catch {
        out.push('\uFFFD'.repeat(pendingBytes.length));
      }
      pendingBytes = [];
    };
    for (const token of tokens) {
      const byte = BYTE_TOKEN.exec(token);
      if (byte) {
        pendingBytes.push(Number.parseInt(byte[1], 16));
        continue;
      }
      flushBytes();
      out.push(token);
    }
    flushBytes();
    return out;
  }
}

/** Our replacement for one (non-Sequence) pre-tokenizer, or undefined when the library's is exact. */
function exactPreTokenizer(config: ComponentConfig): Component | undefined {
  if (config.type === 'Split' && !LIBRARY_SPLIT_BEHAVIORS.has(String(config.behavior))) {
    return new ExactSplitPreTokenizer(config as unknown as SplitConfig) as never;
  }
  if (config.type === 'Metaspace')
    return new ExactMetaspacePreTokenizer(config as unknown as MetaspaceConfig) as never;
  return undefined;
}

function exactDecoder(config: ComponentConfig): Component | undefined {
  if (config.type === 'ByteFallback') return new ExactByteFallbackDecoder(config as never) as never;
  if (config.type === 'Metaspace')
    return new ExactMetaspaceDecoder(config as unknown as MetaspaceConfig) as never;
  return undefined;
}

/** Returns the replacement for one pre-tokenizer, or the same object with its Sequence children patched. */
function fixPreTokenizer(component: Component | null, config: ComponentConfig | null): Component | null {
  if (component === null || config === null) return component;
  const exact = exactPreTokenizer(config);
  if (exact) return exact;
  if (config.type === 'Sequence' && Array.isArray(component.tokenizers)) {
    const childConfigs = (config.pretokenizers ?? []) as ComponentConfig[];
    component.tokenizers = component.tokenizers.map((child: Component | null, i: number) =>
      fixPreTokenizer(child, childConfigs[i] ?? null),
    );
  }
  return component;
}

function fixDecoder(component: Component | null, config: ComponentConfig | null): Component | null {
  if (component === null || config === null) return component;
  const exact = exactDecoder(config);
  if (exact) return exact;
  if (config.type === 'Sequence' && Array.isArray(component.decoders)) {
    const childConfigs = (config.decoders ?? []) as ComponentConfig[];
    component.decoders = component.decoders.map((child: Component | null, i: number) =>
      fixDecoder(child, childConfigs[i] ?? null),
    );
  }
  return component;
}

/** Swap our exact components into a freshly built library tokenizer. `tokenizerJson` is the parsed tokenizer.json. */
export function applyLibraryFixes(lib: LibTokenizer, tokenizerJson: Record<string, unknown>): void {
  const target = lib as unknown as { pre_tokenizer: Component | null; decoder: Component | null };
  target.pre_tokenizer = fixPreTokenizer(
    target.pre_tokenizer,
    tokenizerJson.pre_tokenizer as ComponentConfig | null,
  );
  const decoder = fixDecoder(target.decoder, tokenizerJson.decoder as ComponentConfig | null);
  if (decoder !== target.decoder && decoder !== null && target.decoder !== null) {
    // The library hands the decoder its added tokens and word suffix after construction; keep them.
    decoder.added_tokens = target.decoder.added_tokens;
    decoder.end_of_word_suffix = target.decoder.end_of_word_suffix;
  }
  target.decoder = decoder;
}
