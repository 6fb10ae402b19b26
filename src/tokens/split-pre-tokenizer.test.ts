import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  ExactSplitPreTokenizer,
  type SplitBehavior,
  compileSplitPattern,
  splitByPattern,
} from './split-pre-tokenizer.ts';

describe('splitByPattern (reference cases from Hugging Face tokenizers)', () => {
  const dash = compileSplitPattern({ String: '-' });
  const cases: Array<[SplitBehavior, string[]]> = [
    ['Removed', ['The', 'final', 'countdown']],
    ['Isolated', ['The', '-', 'final', '-', '-', 'countdown']],
    ['MergedWithPrevious', ['The-', 'final-', '-', 'countdown']],
    ['MergedWithNext', ['The', '-final', '-', '-countdown']],
    ['Contiguous', ['The', '-', 'final', '--', 'countdown']],
  ];
  for (const [behavior, expected] of cases) {
    it(behavior, () => {
      assert.deepEqual(splitByPattern('The-final--countdown', dash, behavior), expected);
    });
  }

  it('handles delimiters at both ends and empty input', () => {
    assert.deepEqual(splitByPattern('-a-', dash, 'MergedWithNext'), ['-a', '-']);
    assert.deepEqual(splitByPattern('-a-', dash, 'MergedWithPrevious'), ['-', 'a-']);
    assert.deepEqual(splitByPattern('', dash, 'Isolated'), []);
  });

  it('invert keeps the matches as the pieces', () => {
    const words = compileSplitPattern({ Regex: '\\w+' });
    assert.deepEqual(splitByPattern('ab, cd', words, 'Removed', true), ['ab', 'cd']);
    assert.deepEqual(splitByPattern('ab, cd', words, 'Isolated', true), ['ab', ', ', 'cd']);
  });
});

describe('ExactSplitPreTokenizer', () => {
  it('keeps each SentencePiece word marker on the word it opens', () => {
    const split = new ExactSplitPreTokenizer({
      type: 'Split',
      pattern: { String: '▁' },
      behavior: 'MergedWithNext',
    });
    assert.deepEqual(split('▁Hello,▁world!▁▁x'), ['▁Hello,', '▁world!', '▁', '▁x']);
    assert.deepEqual(split(['▁a▁b', '▁c']), ['▁a', '▁b', '▁c'], 'applies to every piece of a sequence');
  });
});
