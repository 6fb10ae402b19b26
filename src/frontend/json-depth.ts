/**
 * How deeply a JSON text nests, measured on its bytes before any parser sees them. `JSON.parse` recurses
 * once per `[` or `{`, so 100k levels of `[[[[` overflow V8's stack (a 500 "Maximum call stack size
 * exceeded" from a 200 KB body); a linear scan that skips string contents answers the same question with
 * no recursion. Like a WAF's nesting limit in front of an XML/JSON parser.
 */

const OPEN_ARRAY = 0x5b; // [
const OPEN_OBJECT = 0x7b; // {
const CLOSE_ARRAY = 0x5d; // ]
const CLOSE_OBJECT = 0x7d; // }
const QUOTE = 0x22; // "
const BACKSLASH = 0x5c; // \

/**
 * The first byte offset at which the nesting of `bytes` goes past `maxDepth`, or -1 when it never does.
 * Brackets inside strings do not count; escapes inside strings are skipped. Malformed JSON is the
 * parser's business: this only bounds the depth it will be asked to recurse to.
 */
export function depthExceededAt(bytes: Uint8Array, maxDepth: number): number {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < bytes.length; i++) {
    const byte = bytes[i];
    if (inString) {
      if (byte === BACKSLASH) i++;
      else if (byte === QUOTE) inString = false;
      continue;
    }
    if (byte === QUOTE) inString = true;
    else if (byte === OPEN_ARRAY || byte === OPEN_OBJECT) {
      if (++depth > maxDepth) return i;
    } else if (byte === CLOSE_ARRAY || byte === CLOSE_OBJECT) depth--;
  }
  return -1;
}
