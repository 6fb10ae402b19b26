import assert from 'node:assert/strict';
import { test } from 'node:test';
import { StopStringMatcher } from './stop-strings.ts';

/** Feeds deltas one by one and returns everything emitted plus whether a stop fired. */
function run(stops: string[], deltas: string[]): { text: string; stopped: boolean } {
  const matcher = new StopStringMatcher(stops);
  let text = '';
  for (const delta of deltas) {
    const match = matcher.push(delta);
    text += match.text;
    if (match.stopped) return { text, stopped: true };
  }
  return { text: text + matcher.flush(), stopped: false };
}

test('a stop string split across deltas is held back and never emitted', () => {
  const matcher = new StopStringMatcher(['world']);
  assert.deepEqual(matcher.push('Hello, wor'), { text: 'Hello, ', stopped: false });
  assert.deepEqual(matcher.push('ld! more'), { text: '', stopped: true });
  assert.deepEqual(matcher.push('later'), { text: '', stopped: true });
  assert.equal(matcher.flush(), '');
});

test('held text that turns out not to be a stop string is released', () => {
  const matcher = new StopStringMatcher(['world']);
  assert.equal(matcher.push('a wo').text, 'a ');
  assert.equal(matcher.push('w').text, 'wo', 'the new "w" could still begin "world"');
  assert.equal(matcher.push('or').text, '');
  assert.equal(matcher.flush(), 'wor');
});

test('the earliest of several stop strings wins', () => {
  assert.deepEqual(run(['cd', 'b'], ['abcd']), { text: 'a', stopped: true });
  assert.deepEqual(run(['\n\n', 'END'], ['one\n', 'two END\n\n']), { text: 'one\ntwo ', stopped: true });
});

test('no stop strings: everything passes straight through', () => {
  const matcher = new StopStringMatcher([]);
  assert.deepEqual(matcher.push('abc'), { text: 'abc', stopped: false });
  assert.equal(matcher.flush(), '');
});

test('every way of splitting a text gives the same output as matching the whole text', () => {
  const text = 'The quick -- brown fox\n-- Bruce Python said --';
  const stops = ['-- B', 'fox\n\n', 'zzz'];
  const expected = text.slice(0, text.indexOf('-- B'));
  for (let a = 0; a <= text.length; a++) {
    for (let b = a; b <= text.length; b += 3) {
      const out = run(stops, [text.slice(0, a), text.slice(a, b), text.slice(b)]);
      assert.deepEqual(out, { text: expected, stopped: true }, `split at ${a},${b}`);
    }
  }
  const oneByOne = run(stops, [...text]);
  assert.deepEqual(oneByOne, { text: expected, stopped: true });
  assert.deepEqual(run(['zzz'], [...text]), { text, stopped: false });
});
