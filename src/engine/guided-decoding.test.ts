import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DEFAULT_SAMPLING } from '../protocols/engine.ts';
import { Xoshiro128 } from '../util/prng.ts';
import { encodedVocab, GuidedDecoder, maskAllows, vocabTypeOf } from './guided-decoding.ts';
import { sampleToken } from './sampler.ts';

// A toy byte-level vocabulary: enough to write {"a": 1} and {"a": "b"}.
const TOKENS = ['{', '}', '"', 'a', 'b', ':', 'Ġ', '1', ',', '<eos>', 'xyz'];
const EOS = 9;
const tokenizerJson = {
  model: { type: 'BPE', vocab: Object.fromEntries(TOKENS.map((t, i) => [t, i])) },
  added_tokens: [{ id: EOS, content: '<eos>', special: true }],
  decoder: { type: 'ByteLevel' },
};
const id = (t: string) => TOKENS.indexOf(t);
const allowed = (mask: Int32Array) => TOKENS.filter((_, i) => maskAllows(mask, i));

describe('guided decoding', () => {
  it('reads the vocabulary as xgrammar needs it: byte-level, specials and padding rows empty', () => {
    assert.equal(vocabTypeOf(tokenizerJson), 'byte_level');
    assert.equal(
      vocabTypeOf({ decoder: { type: 'Sequence', decoders: [{ type: 'ByteFallback' }] } }),
      'byte_fallback',
    );
    assert.equal(vocabTypeOf({}), 'raw');
    const vocab = encodedVocab(tokenizerJson, 13);
    assert.equal(vocab.length, 13);
    assert.equal(vocab[0], '{');
    assert.equal(vocab[EOS], '', 'a special token is never part of the JSON');
    assert.equal(vocab[12], '', 'a padding row has no text');
  });

  it('a schema walks the matcher: only the tokens of valid JSON, EOS only once it is complete', async () => {
    const decoder = new GuidedDecoder(async () => tokenizerJson, TOKENS.length);
    const schema = JSON.stringify({
      type: 'object',
      properties: { a: { type: 'integer' } },
      required: ['a'],
      additionalProperties: false,
    });
    const c = await decoder.constrain({ schema }, [EOS]);
    assert.deepEqual(allowed(await c.nextMask()), ['{']);
    for (const t of ['{', '"', 'a', '"', ':', 'Ġ']) assert.ok(c.accept(id(t)), t);
    assert.deepEqual(allowed(await c.nextMask()), ['1'], 'an integer, nothing else');
    assert.ok(c.accept(id('1')));
    assert.ok(!maskAllows(await c.nextMask(), EOS), 'not finished before the brace');
    assert.ok(c.accept(id('}')));
    assert.deepEqual(allowed(await c.nextMask()), ['<eos>'], 'complete: only EOS');
    c.dispose();
  });

  it('a continuation resumes the grammar after the tokens already generated', async () => {
    const decoder = new GuidedDecoder(async () => tokenizerJson, TOKENS.length);
    const schema = JSON.stringify({ type: 'object' });
    const c = await decoder.constrain({ schema, acceptedTokenIds: [id('{')] }, [EOS]);
    assert.deepEqual(allowed(await c.nextMask()), ['}', '"'], 'after "{": a key or the end');
    c.dispose();
    await assert.rejects(
      decoder.constrain({ schema, acceptedTokenIds: [id('}')] }, [EOS]),
      /does not continue/,
    );
  });

  it('a schema xgrammar cannot compile is an InvalidRequestError naming response_format', async () => {
    const decoder = new GuidedDecoder(async () => tokenizerJson, TOKENS.length);
    await assert.rejects(
      decoder.constrain({ schema: JSON.stringify({ $ref: '#/missing' }) }, [EOS]),
      (err: Error & { param?: string }) => err.param === 'response_format',
    );
  });

  it('the sampler never picks a masked token, greedy or sampled', async () => {
    const decoder = new GuidedDecoder(async () => tokenizerJson, TOKENS.length);
    const c = await decoder.constrain({ schema: JSON.stringify({ type: 'object' }) }, [EOS]);
    const mask = await c.nextMask(); // only '{'
    const logits = Float32Array.from(TOKENS.map((_, i) => (i === id('{') ? -5 : 3)));
    const rng = new Xoshiro128(7);
    for (const temperature of [0, 1]) {
      for (let i = 0; i < 20; i++) {
        const r = sampleToken({
          logits,
          promptTokenIds: [],
          outputTokenIds: [],
          params: { ...DEFAULT_SAMPLING, temperature },
          rng,
          mask,
        });
        assert.equal(r.tokenId, id('{'));
      }
    }
    c.dispose();
  });
});
