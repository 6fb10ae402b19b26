import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ExactByteFallbackDecoder } from './library-fixes.ts';
import { ExactMetaspaceDecoder, ExactMetaspacePreTokenizer, prependSchemeOf } from './metaspace.ts';

describe('ExactMetaspacePreTokenizer (reference cases from Hugging Face tokenizers)', () => {
  it('replaces spaces, prepends ▁ and splits before every ▁', () => {
    const pre = new ExactMetaspacePreTokenizer({
      type: 'Metaspace',
      replacement: '▁',
      prepend_scheme: 'always',
    });
    assert.deepEqual(pre('Hey friend!'), ['▁Hey', '▁friend!']);
    assert.deepEqual(pre('Hey   friend!'), ['▁Hey', '▁', '▁', '▁friend!']);
  });

  it('split: false keeps one piece; "first" prepends only at the start of the input', () => {
    const pre = new ExactMetaspacePreTokenizer({ type: 'Metaspace', prepend_scheme: 'first', split: false });
    assert.deepEqual(pre('Hey my friend ', { section_index: 0 }), ['▁Hey▁my▁friend▁']);
    assert.deepEqual(pre('how are you', { section_index: 2 }), ['how▁are▁you'], 'after an added token');
  });

  it('reads the legacy add_prefix_space flag', () => {
    assert.equal(prependSchemeOf({ type: 'Metaspace', add_prefix_space: false }), 'never');
    assert.equal(prependSchemeOf({ type: 'Metaspace', add_prefix_space: true }), 'always');
    const never = new ExactMetaspacePreTokenizer({ type: 'Metaspace', add_prefix_space: false });
    assert.deepEqual(never('Hey you'), ['Hey', '▁you']);
  });
});

describe('ExactMetaspaceDecoder', () => {
  it('drops the word marker of the first token unless prepend_scheme is never', () => {
    const always = new ExactMetaspaceDecoder({ type: 'Metaspace', prepend_scheme: 'always' });
    assert.deepEqual(always.decode_chain(['▁Hey', '▁friend!']), ['Hey', ' friend!']);
    const never = new ExactMetaspaceDecoder({ type: 'Metaspace', prepend_scheme: 'never' });
    assert.deepEqual(never.decode_chain(['▁Hey', '▁friend!']), [' Hey', ' friend!']);
  });
});

describe('ExactByteFallbackDecoder', () => {
  const decoder = new ExactByteFallbackDecoder({ type: 'ByteFallback' } as never);

  it('joins byte tokens into UTF-8 characters', () => {
    assert.deepEqual(decoder.decode_chain(['a', '<0xF0>', '<0x9F>', '<0x9A>', '<0x80>', 'b']), [
      'a',
      '🚀',
      'b',
    ]);
  });

  it('emits one U+FFFD per byte of an invalid run, as the reference does', () => {
    assert.deepEqual(decoder.decode_chain(['<0xF0>', '<0x9F>', 'x']), ['\uFFFD\uFFFD', 'x']);
  });
});
