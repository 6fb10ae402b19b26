/**
 * Our own `Split` pre-tokenizer: cuts a string at every match of a pattern and decides, per the tokenizer.json
 * `behavior`, what happens to the delimiters. Hugging Face's Rust `tokenizers` is the reference:
 *
 *   "The-final--countdown" split on "-"
 *     Removed             The | final | countdown
 *     Isolated            The | - | final | - | - | countdown
 *     MergedWithPrevious  The- | final- | - | countdown
 *     MergedWithNext      The | -final | - | -countdown
 *     Contiguous          The | - | final | -- | countdown
 *
 * `@huggingface/tokenizers` 0.2 treats the three merge behaviours like Isolated, which breaks SentencePiece-style
 * tokenizers that split on `▁` with MergedWithNext (each word keeps its leading `▁`). We reuse the library only to
 * translate the Oniguruma regex into a JS RegExp, and do the splitting here.
 * Systems analogy: a framing layer that decides whether a record separator belongs to the previous or next record.
 */
import { PreTokenizer, SplitPreTokenizer } from '@huggingface/tokenizers';

export type SplitBehavior = 'Removed' | 'Isolated' | 'MergedWithPrevious' | 'MergedWithNext' | 'Contiguous';

/** The `pre_tokenizer` entry of tokenizer.json for `"type": "Split"`. */
export interface SplitConfig {
  type: 'Split';
  pattern: { String?: string; Regex?: string };
  behavior: SplitBehavior;
  invert?: boolean;
}

/** One stretch of the input: [start, end) in UTF-16 units, and whether it is a delimiter. */
interface Segment {
  start: number;
  end: number;
  isMatch: boolean;
}

/** Cover the whole text with alternating gap / match segments, like Rust's `Pattern::find_matches`. */
function findSegments(text: string, pattern: RegExp, invert: boolean): Segment[] {
  const segments: Segment[] = [];
  let previousEnd = 0;
  for (const match of text.matchAll(pattern)) {
    const start = match.index;
    const end = start + match[0].length;
    if (start !== previousEnd) segments.push({ start: previousEnd, end: start, isMatch: false });
    segments.push({ start, end, isMatch: true });
    previousEnd = end;
  }
  if (previousEnd !== text.length) segments.push({ start: previousEnd, end: text.length, isMatch: false });
  // Invert swaps the roles: the pattern then describes the pieces to keep, not the delimiters.
  return invert ? segments.map((s) => ({ ...s, isMatch: !s.isMatch })) : segments;
}

/** Join delimiters onto their neighbours per `behavior`; returns the kept [start, end) ranges. */
function applyBehavior(segments: Segment[], behavior: SplitBehavior): Array<[number, number]> {
  const kept: Array<[number, number]> = [];
  switch (behavior) {
    case 'Removed':
      for (const s of segments) if (!s.isMatch) kept.push([s.start, s.end]);
      return kept;
    case 'Isolated':
      return segments.map((s) => [s.start, s.end]);
    case 'Contiguous': {
      let previousMatch = false;
      for (const s of segments) {
        const last = kept.at(-1);
        if (s.isMatch && previousMatch && last) last[1] = s.end;
        else kept.push([s.start, s.end]);
        previousMatch = s.isMatch;
      }
      return kept;
    }
    case 'MergedWithPrevious': {
      let previousMatch = false;
      for (const s of segments) {
        const last = kept.at(-1);
        if (s.isMatch && !previousMatch && last) last[1] = s.end;
        else kept.push([s.start, s.end]);
        previousMatch = s.isMatch;
      }
      return kept;
    }
    case 'MergedWithNext': {
      // Walk backwards so a delimiter can extend the (already seen) segment after it.
      let nextMatch = false;
      for (let i = segments.length - 1; i >= 0; i--) {
        const s = segments[i];
        const last = kept.at(-1);
        if (s.isMatch && !nextMatch && last) last[0] = s.start;
        else kept.push([s.start, s.end]);
        nextMatch = s.isMatch;
      }
      return kept.reverse();
    }
  }
}

/** Split `text` the way Hugging Face's `Split` pre-tokenizer does. Empty pieces are dropped, as in Rust. */
export function splitByPattern(
  text: string,
  pattern: RegExp,
  behavior: SplitBehavior,
  invert = false,
): string[] {
  if (text.length === 0) return [];
  const ranges = applyBehavior(findSegments(text, pattern, invert), behavior);
  return ranges.filter(([start, end]) => end > start).map(([start, end]) => text.slice(start, end));
}

/** Compile a tokenizer.json pattern (`{String}` or Oniguruma `{Regex}`) into a global JS RegExp. */
export function compileSplitPattern(pattern: SplitConfig['pattern']): RegExp {
  // invert: true makes the library compile the bare pattern (no capture group), which is what we want.
  const compiled = new SplitPreTokenizer({ type: 'Split', pattern, invert: true } as never).pattern;
  if (compiled === null) throw new Error(`unsupported Split pattern ${JSON.stringify(pattern)}`);
  return compiled;
}

/** Drop-in replacement for the library's Split pre-tokenizer, usable inside its Sequence pre-tokenizer. */
export class ExactSplitPreTokenizer extends PreTokenizer {
  private readonly pattern: RegExp;

  constructor(private readonly config: SplitConfig) {
    super();
    this.pattern = compileSplitPattern(config.pattern);
  }

  pre_tokenize_text(text: string): string[] {
    return splitByPattern(text, this.pattern, this.config.behavior, this.config.invert ?? false);
  }
}
