import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createRng, type Rng } from '../../util/prng.ts';
import { wireClone } from './wire-clone.ts';

/** The JSON round trip; a value JSON cannot write at all (undefined, a function) becomes null, as on the wire. */
function viaJson(value: unknown): unknown {
  const text = JSON.stringify(value);
  return text === undefined ? null : JSON.parse(text);
}

/** Same structure, same values (-0 vs 0 included), same prototypes, no shared objects. */
function assertSameAsJson(value: unknown): void {
  const expected = viaJson(value);
  const actual = wireClone(value);
  assert.deepStrictEqual(actual, expected);
  assert.equal(JSON.stringify(actual), JSON.stringify(expected));
  assertFresh(actual, value);
}

function assertFresh(copy: unknown, original: unknown): void {
  if (copy === null || typeof copy !== 'object') {
    if (typeof copy === 'number') assert.ok(!Object.is(copy, -0), 'JSON writes -0 as 0');
    return;
  }
  assert.notEqual(copy, original, 'a copy never shares an object with the original');
  for (const [key, child] of Object.entries(copy)) {
    assertFresh(child, (original as Record<string, unknown> | null)?.[key]);
  }
}

const ATOMS: unknown[] = [
  0,
  -0,
  1.5,
  -7,
  Number.NaN,
  Infinity,
  -Infinity,
  2 ** 53,
  '',
  'x',
  'é😀\ud800',
  true,
  false,
  null,
  undefined,
  () => 1,
  Symbol('s'),
];

/** A random JSON-ish value: plain objects, arrays (holes included), and the atoms JSON treats specially. */
function generate(rng: Rng, depth: number): unknown {
  const pick = rng.nextFloat();
  if (depth > 4 || pick < 0.4) return ATOMS[Math.floor(rng.nextFloat() * ATOMS.length)];
  if (pick < 0.7) {
    const array: unknown[] = [];
    const length = Math.floor(rng.nextFloat() * 6);
    for (let i = 0; i < length; i++) if (rng.nextFloat() > 0.1) array[i] = generate(rng, depth + 1);
    array.length = length; // holes stay holes
    return array;
  }
  const object: Record<string, unknown> = {};
  const keys = Math.floor(rng.nextFloat() * 5);
  for (let i = 0; i < keys; i++)
    object[rng.nextFloat() < 0.2 ? String(i) : `k${Math.floor(rng.nextFloat() * 9)}`] = generate(
      rng,
      depth + 1,
    );
  return object;
}

describe('wireClone: what the wire would deliver, without the wire', () => {
  it('equals the JSON round trip on 5,000 generated values', () => {
    const rng = createRng(42);
    for (let i = 0; i < 5000; i++) assertSameAsJson(generate(rng, 0));
  });

  it('copies the request plane payloads and items it exists for', () => {
    assertSameAsJson({
      requestId: 'cmpl-1',
      promptTokenIds: [664, 727, 665],
      sampling: { temperature: 1, topP: undefined },
      stopping: { maxTokens: 8, stopTokenIds: [], ignoreEos: true },
    });
    assertSameAsJson({ requestId: 'cmpl-1', tokenId: 5, finishReason: undefined, numCachedTokens: 0 });
    assert.equal(wireClone(undefined), null);
  });

  it('takes the JSON round trip for values JSON treats specially', () => {
    class Point {
      constructor(
        readonly x: number,
        readonly y?: number,
      ) {}
    }
    const withToJson = { a: 1, toJSON: () => ({ replaced: true }) };
    const arrayWithToJson = Object.assign([1, 2], { toJSON: () => 'array' });
    for (const value of [
      new Date(0),
      new Point(1),
      { nested: [new Point(2, 3)] },
      withToJson,
      { inner: withToJson },
      arrayWithToJson,
      new Uint8Array([1, 2]),
      new Map([[1, 2]]),
      Object.create(null),
      Object.assign(Object.create(null), { a: 1 }),
      Object.assign([1], { extra: 'ignored' }),
    ]) {
      assertSameAsJson(value);
    }
  });

  it('keeps "__proto__" an own field, as JSON.parse does, never a prototype', () => {
    const hostile = JSON.parse('{"__proto__": {"polluted": true}, "a": 1}');
    const copy = wireClone(hostile) as Record<string, unknown>;
    assert.equal(Object.getPrototypeOf(copy), Object.prototype);
    assert.equal((copy as { polluted?: boolean }).polluted, undefined);
    assert.deepEqual(Object.keys(copy), ['__proto__', 'a']);
    assertSameAsJson(hostile);
  });

  it('refuses what JSON refuses: bigint anywhere, cycles', () => {
    assert.throws(() => wireClone({ a: [1n] }), TypeError);
    assert.throws(() => wireClone(1n), TypeError);
    const cyclic: Record<string, unknown> = { a: 1 };
    cyclic.self = cyclic;
    assert.throws(() => wireClone(cyclic), /circular/);
  });

  it('copies deep values (past its direct-copy depth) exactly', () => {
    let deep: unknown = { leaf: [1, undefined, -0] };
    for (let i = 0; i < 100; i++) deep = i % 2 ? { next: deep } : [deep];
    assertSameAsJson(deep);
  });
});
