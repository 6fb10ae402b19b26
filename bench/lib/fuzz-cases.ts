/**
 * Malformed requests for the fuzz test (`bench/fuzz.test.ts`, CI-sized) and `npm run fuzz` (10,000+ per endpoint):
 * structure-aware, every field of each endpoint × every value of a wrong type or out of its range (nested
 * fields of chat messages too), then seeded random mixes of several wrong fields, broken JSON and bodies
 * the guards must stop; plus raw-socket garbage (bad request lines, broken chunking, oversized headers,
 * conflicting lengths). Every case is malformed: the only right answer is a 4xx. Like a protocol fuzzer
 * driven by the grammar (boofuzz, a WAF's test corpus) rather than by random bytes alone.
 */
import { Mulberry32 } from '../../src/util/prng.ts';

export const CHAT = '/v1/chat/completions';
export const COMPLETIONS = '/v1/completions';
export type Endpoint = typeof CHAT | typeof COMPLETIONS;

export interface HttpCase {
  kind: string;
  path: Endpoint;
  body: Buffer;
  contentType?: string;
}

/** Bytes written to a raw socket as they are: the HTTP parser's and the guards' business. */
export interface RawCase {
  kind: string;
  bytes: Buffer;
}

type Json = unknown;

/** A field's valid type and range: what "wrong" means for it. */
type Rule =
  | { type: 'integer'; min?: number; max?: number }
  | { type: 'number'; min?: number; max?: number; minExclusive?: boolean }
  | { type: 'boolean' }
  | { type: 'string' }
  | { type: 'custom'; wrong: Json[] };

const NOT_NUMBERS: Json[] = ['1', 'x', '', true, false, [], [1], {}, { value: 1 }];
const NOT_BOOLEANS: Json[] = [0, 1, 'true', 'false', '', [], [true], {}];
const NOT_STRINGS: Json[] = [0, 1.5, -1, true, false, [], ['a'], {}, { text: 'a' }];

const COMMON_FIELDS: Record<string, Rule> = {
  model: { type: 'custom', wrong: [...NOT_STRINGS, 'no-such-model', ''] },
  max_tokens: { type: 'integer', min: 1 },
  max_completion_tokens: { type: 'integer', min: 1 },
  temperature: { type: 'number', min: 0, max: 2 },
  top_p: { type: 'number', min: 0, max: 1, minExclusive: true },
  n: { type: 'custom', wrong: [...NOT_NUMBERS, 0, -1, 1.5, 1e9] },
  stream: { type: 'boolean' },
  stream_options: {
    type: 'custom',
    wrong: ['x', 1, true, [], [{}], { include_usage: 'yes' }, { include_usage: 1 }],
  },
  stop: { type: 'custom', wrong: [1, true, {}, [1], [null], ['a', 2], ['a', 'b', 'c', 'd', 'e'], [[]]] },
  seed: { type: 'custom', wrong: [...NOT_NUMBERS, 1.5, 1e300, -0.5] },
  presence_penalty: { type: 'number', min: -2, max: 2 },
  frequency_penalty: { type: 'number', min: -2, max: 2 },
  user: { type: 'string' },
  top_k: { type: 'integer', min: -1 },
  min_p: { type: 'number', min: 0, max: 1 },
  repetition_penalty: { type: 'number', min: 0, minExclusive: true },
  ignore_eos: { type: 'boolean' },
  min_tokens: { type: 'integer', min: 0 },
  stop_token_ids: { type: 'custom', wrong: ['x', 1, true, {}, [-1], [1.5], [1e20], ['1'], [null]] },
  skip_special_tokens: { type: 'boolean' },
};

const CHAT_FIELDS: Record<string, Rule> = {
  ...COMMON_FIELDS,
  messages: {
    type: 'custom',
    wrong: [
      5,
      'hi',
      true,
      [],
      {},
      [5],
      ['hi'],
      [[]],
      [{}],
      [{ role: 'user' }],
      [{ content: 'hi' }],
      [{ role: 'alien', content: 'x' }],
      [{ role: 5, content: 'x' }],
      [{ role: ['user'], content: 'x' }],
      [{ role: 'user', content: 5 }],
      [{ role: 'user', content: true }],
      [{ role: 'user', content: {} }],
      [{ role: 'user', content: [5] }],
      [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'x' } }] }],
      [{ role: 'user', content: [{ type: 'text', text: 5 }] }],
      [{ role: 'user', content: [{ type: 'text' }] }],
      [{ role: 'user', content: 'hi', name: 5 }],
      [{ role: 'tool', content: 'x', tool_call_id: 7 }],
      [{ role: 'user', content: 'hi' }, null],
    ],
  },
  logprobs: { type: 'boolean' },
  top_logprobs: { type: 'custom', wrong: [...NOT_NUMBERS, -1, 21, 2.5, 1e9] },
};

const COMPLETION_FIELDS: Record<string, Rule> = {
  ...COMMON_FIELDS,
  prompt: {
    type: 'custom',
    wrong: [5, true, {}, [], [[1, 2], [3]], [-1], [1.5], [1e12], [2048], ['a', 'b'], [null], [{}], ''],
  },
  logprobs: { type: 'custom', wrong: [...NOT_NUMBERS, -1, 6, 2.5] },
};

/** Values a field can never take: other JSON types, and numbers outside its range. */
export function wrongValues(rule: Rule): Json[] {
  switch (rule.type) {
    case 'custom':
      return rule.wrong;
    case 'boolean':
      return NOT_BOOLEANS;
    case 'string':
      return NOT_STRINGS;
    default: {
      const out: Json[] = [...NOT_NUMBERS];
      if (rule.min !== undefined) out.push(rule.min - 1, rule.min - 1e6);
      if (rule.type === 'number' && rule.minExclusive && rule.min !== undefined) out.push(rule.min);
      if (rule.max !== undefined) out.push(rule.max + 0.5, rule.max + 1e6);
      if (rule.type === 'integer') out.push((rule.min ?? 0) + 1.5, 1e20);
      return out;
    }
  }
}

export const fieldsOf = (path: Endpoint): Record<string, Rule> =>
  path === CHAT ? CHAT_FIELDS : COMPLETION_FIELDS;

const validBody = (path: Endpoint): Record<string, Json> =>
  path === CHAT
    ? { model: 'fortune-llama', messages: [{ role: 'user', content: 'hi' }], max_tokens: 2 }
    : { model: 'fortune-llama', prompt: 'Hello', max_tokens: 2 };

const json = (value: Json): Buffer => Buffer.from(JSON.stringify(value));

/** Every field × every wrong value, once: the exhaustive part. */
export function fieldGrid(path: Endpoint): HttpCase[] {
  return Object.entries(fieldsOf(path)).flatMap(([field, rule]) =>
    wrongValues(rule).map((value) => ({
      kind: `${field}: wrong type or range`,
      path,
      body: json({ ...validBody(path), [field]: value }),
    })),
  );
}

/** Malformed bodies whatever the fields: broken JSON, not an object, bad UTF-8, depth, size, media type. */
function bodyCase(path: Endpoint, random: Mulberry32, maxBodyBytes: number): HttpCase {
  const text = JSON.stringify(validBody(path));
  const pick = random.nextInt(9);
  switch (pick) {
    case 0:
      return { kind: 'truncated JSON', path, body: Buffer.from(text.slice(0, random.nextInt(text.length))) };
    case 1: {
      const bytes = Buffer.alloc(1 + random.nextInt(300));
      for (let i = 0; i < bytes.length; i++) bytes[i] = random.nextInt(256);
      bytes[0] = 0x7b; // '{': never accidentally valid JSON
      bytes[bytes.length - 1] = 0x7b;
      return { kind: 'random bytes', path, body: bytes };
    }
    case 2: {
      const bad = [[0x80], [0xc0, 0xaf], [0xff, 0xfe], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80]][
        random.nextInt(5)
      ];
      const at = text.indexOf('"', text.indexOf(':') + 1) + 1;
      return {
        kind: 'invalid UTF-8',
        path,
        body: Buffer.concat([Buffer.from(text.slice(0, at)), Buffer.from(bad), Buffer.from(text.slice(at))]),
      };
    }
    case 3:
      return { kind: 'not an object', path, body: json([[], 5, 'x', true, null][random.nextInt(5)]) };
    case 4: {
      // Deep enough for the depth guard, small enough to pass the size limit (else it is a 413).
      const depth = 65 + random.nextInt(Math.max(1, Math.floor(maxBodyBytes / 2) - 80));
      return {
        kind: 'nested too deep',
        path,
        body: Buffer.from(`{"x":${'['.repeat(depth)}${']'.repeat(depth)}}`),
      };
    }
    case 5:
      return {
        kind: 'body over the limit',
        path,
        body: json({ ...validBody(path), pad: 'x'.repeat(maxBodyBytes + random.nextInt(maxBodyBytes)) }),
      };
    case 6: {
      const types = [
        'text/plain',
        'application/x-www-form-urlencoded',
        'multipart/form-data; boundary=x',
        'text/html',
      ];
      return {
        kind: 'not JSON media type',
        path,
        body: Buffer.from(text),
        contentType: types[random.nextInt(4)],
      };
    }
    case 7:
      return { kind: 'empty body', path, body: Buffer.alloc(random.nextInt(3), 0x20) };
    default: {
      const { [path === CHAT ? 'messages' : 'prompt']: _, ...rest } = validBody(path);
      return { kind: 'required field missing', path, body: json(rest) };
    }
  }
}

/**
 * `count` malformed requests for one endpoint: the field grid first (every field × every wrong value),
 * then seeded random cases: one to three wrong fields at once, or a malformed body.
 */
export function httpCases(path: Endpoint, count: number, seed: number, maxBodyBytes: number): HttpCase[] {
  const random = new Mulberry32(seed);
  const fields = Object.entries(fieldsOf(path));
  const cases = fieldGrid(path).slice(0, count);
  while (cases.length < count) {
    if (random.nextInt(4) === 0) {
      cases.push(bodyCase(path, random, maxBodyBytes));
      continue;
    }
    const body = validBody(path);
    const wrong = 1 + random.nextInt(3);
    const names: string[] = [];
    for (let i = 0; i < wrong; i++) {
      const [field, rule] = fields[random.nextInt(fields.length)];
      const values = wrongValues(rule);
      body[field] = values[random.nextInt(values.length)];
      names.push(field);
    }
    cases.push({ kind: `${wrong} wrong field(s)`, path, body: json(body) });
  }
  return cases;
}

const head = (path: string, extra: string): string =>
  `POST ${path} HTTP/1.1\r\nHost: fuzz\r\ncontent-type: application/json\r\n${extra}`;

/** Raw-socket garbage for one endpoint: each must get a 4xx status line (or be closed unanswered). */
export function rawCases(path: Endpoint, count: number, seed: number): RawCase[] {
  const random = new Mulberry32(seed);
  const body = JSON.stringify(validBody(path));
  const makers: ((r: Mulberry32) => RawCase)[] = [
    (r) => {
      const bytes = Buffer.alloc(8 + r.nextInt(400));
      for (let i = 0; i < bytes.length; i++) bytes[i] = r.nextInt(256);
      bytes.write('\r\n\r\n', bytes.length - 4);
      return { kind: 'random request bytes', bytes };
    },
    (r) => ({
      kind: 'bad request line',
      bytes: Buffer.from(
        [
          `POST ${path}\r\n\r\n`,
          `P\0ST ${path} HTTP/1.1\r\n\r\n`,
          `POST ${path} HTTP/9.9\r\n\r\n`,
          'GARBAGE\r\n\r\n',
        ][r.nextInt(4)],
      ),
    }),
    (r) => ({
      kind: 'broken chunking',
      bytes: Buffer.from(
        head(path, 'transfer-encoding: chunked\r\n\r\n') +
          ['zz\r\n{}\r\n0\r\n\r\n', '5\r\n{}\r\n0\r\n\r\n', `-1\r\n${body}\r\n`, '1;\0\r\nx\r\n0\r\n\r\n'][
            r.nextInt(4)
          ],
      ),
    }),
    (r) => ({
      kind: 'oversized headers',
      bytes: Buffer.from(head(path, `x-big: ${'a'.repeat(20_000 + r.nextInt(60_000))}\r\n\r\n`)),
    }),
    () => ({
      kind: 'Content-Length and Transfer-Encoding',
      bytes: Buffer.from(
        head(path, `content-length: ${body.length}\r\ntransfer-encoding: chunked\r\n\r\n`) + body,
      ),
    }),
    (r) => ({
      kind: 'bad header bytes',
      bytes: Buffer.concat([
        Buffer.from(head(path, 'x-bad: ')),
        Buffer.from([0x00 + r.nextInt(9), 0x7f, 0x0d]),
        Buffer.from('\r\n\r\n'),
      ]),
    }),
    (r) => {
      const sequences = [[0xc3, 0x28], [0xa0, 0xa1], [0xe2, 0x28, 0xa1], [0xf0, 0x28, 0x8c, 0xbc], [0xff]];
      const bad = Buffer.from(sequences[r.nextInt(sequences.length)]);
      const payload = Buffer.concat([Buffer.from('{"prompt":"'), bad, Buffer.from('","max_tokens":1}')]);
      return {
        kind: 'bad UTF-8 body',
        bytes: Buffer.concat([Buffer.from(head(path, `content-length: ${payload.length}\r\n\r\n`)), payload]),
      };
    },
    () => ({
      kind: 'duplicate Content-Length',
      bytes: Buffer.from(head(path, `content-length: 2\r\ncontent-length: ${body.length}\r\n\r\n`) + body),
    }),
  ];
  return Array.from({ length: count }, () => makers[random.nextInt(makers.length)](random));
}
