/**
 * What the wire would do to a value, without the wire: `JSON.parse(JSON.stringify(value))` for the in-memory
 * request plane (like a loopback interface that still applies the protocol's rules), so whatever works in
 * embedded mode also works over TCP: no shared mutable objects, undefined fields dropped, undefined array
 * entries and non-finite numbers turned into null, bigint refused.
 *
 * Why not the JSON round trip itself: every request's payload and every streamed token item crosses this
 * plane, and printing then parsing a small object costs several times copying it (it was 5–6 % of a
 * `dhw serve` process's CPU at 5,000 req/s). Plain objects, arrays and primitives are copied here
 * directly; anything else (a class instance, a `toJSON`, a typed array, a Map, a very deep or cyclic value)
 * takes the JSON round trip, so the result is always exactly what JSON would give.
 */

/** Deeper than this, hand over to JSON (which also reports cycles properly). */
const MAX_DIRECT_DEPTH = 32;

/** Marker: this value needs the real JSON round trip. */
const NEEDS_JSON = Symbol('needs-json');

export function wireClone(value: unknown): unknown {
  const copy = cloneValue(value, 0);
  if (copy === NEEDS_JSON) return JSON.parse(JSON.stringify(value));
  return copy === undefined ? null : copy; // undefined, a function: JSON writes nothing; the wire says null
}

/** A copy as JSON would make it, `undefined` where JSON drops the value, or NEEDS_JSON. */
function cloneValue(value: unknown, depth: number): unknown {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return value;
    case 'number':
      return Number.isFinite(value) ? value + 0 : null; // + 0: JSON writes -0 as 0
    case 'undefined':
    case 'function':
    case 'symbol':
      return undefined;
    case 'bigint':
      throw new TypeError('Do not know how to serialize a BigInt');
    default:
      if (value === null) return null;
      if (depth >= MAX_DIRECT_DEPTH) return NEEDS_JSON;
      return Array.isArray(value) ? cloneArray(value, depth) : clonePlainObject(value as object, depth);
  }
}

function cloneArray(array: unknown[], depth: number): unknown {
  if (Object.getPrototypeOf(array) !== Array.prototype || 'toJSON' in array) return NEEDS_JSON;
  const copy = new Array(array.length);
  for (let i = 0; i < array.length; i++) {
    const item = array[i];
    if (typeof item === 'number') {
      copy[i] = Number.isFinite(item) ? item + 0 : null;
      continue;
    }
    const cloned = cloneValue(item, depth + 1);
    if (cloned === NEEDS_JSON) return NEEDS_JSON;
    copy[i] = cloned === undefined ? null : cloned;
  }
  return copy;
}

function clonePlainObject(object: object, depth: number): unknown {
  const proto = Object.getPrototypeOf(object);
  if ((proto !== Object.prototype && proto !== null) || 'toJSON' in object) return NEEDS_JSON;
  const copy: Record<string, unknown> = {};
  for (const key in object) {
    if (!Object.hasOwn(object, key)) continue;
    const cloned = cloneValue((object as Record<string, unknown>)[key], depth + 1);
    if (cloned === NEEDS_JSON) return NEEDS_JSON;
    if (cloned === undefined) continue;
    if (key === '__proto__') {
      // JSON.parse makes "__proto__" an own data property; plain assignment would set the prototype instead.
      Object.defineProperty(copy, key, {
        value: cloned,
        enumerable: true,
        writable: true,
        configurable: true,
      });
    } else {
      copy[key] = cloned;
    }
  }
  return copy;
}
