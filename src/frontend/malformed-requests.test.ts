/**
 * 500 malformed requests, generated from a seed, against the real stack (frontend + one worker process):
 * bad JSON, invalid UTF-8, wrong types, out-of-range numbers, huge bodies. Every one must be a 4xx in
 * OpenAI's error shape, and the server must serve normally afterwards. Unknown fields are ignored, as
 * OpenAI does: those requests may succeed, and are counted separately.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Mulberry32 } from '../util/prng.ts';
import {
  goldenSamples,
  type HealthReply,
  quietLogs,
  startTestServer,
  type TestServer,
} from './testing/frontend-kit.ts';

quietLogs();

const MAX_BODY = 64 * 1024;
const TOTAL = 500;

let ts: TestServer;

before(async () => {
  ts = await startTestServer({ maxBodyBytes: MAX_BODY });
});
after(async () => {
  await ts?.close();
});

/** mulberry32: the same 500 requests on every run. */
function rng(seed: number): () => number {
  const generator = new Mulberry32(seed);
  return () => generator.nextFloat();
}

interface Case {
  kind: string;
  path: string;
  body: Buffer;
  /** Unknown fields only: a 200 is correct too. */
  mayPass?: boolean;
}

const CHAT = '/v1/chat/completions';
const COMPLETIONS = '/v1/completions';
const validChat = () => ({
  model: 'fortune-llama',
  messages: [{ role: 'user', content: 'hi' }],
  max_tokens: 1,
});
const validCompletion = () => ({ model: 'fortune-llama', prompt: 'Hello', max_tokens: 1 });

/** Values each field can never take. */
const BAD_CHAT_FIELDS: Record<string, unknown[]> = {
  messages: [
    5,
    'hi',
    [],
    [{}],
    [{ role: 'alien', content: 'x' }],
    [{ role: 'user' }],
    [{ role: 'user', content: 5 }],
    {},
  ],
  model: [5, [], {}, true, 'no-such-model'],
  max_tokens: [-1, -100, 0, 1.5, '10', 1e12, true, {}, -1e9],
  max_completion_tokens: [-5, 'x', 2.5],
  temperature: ['hot', -1, [], {}, true],
  top_p: [2, -0.5, 'x', 0],
  n: [2, 0, '1', -1],
  stream: ['yes', 1, {}],
  stop: [5, [1, 2], ['a', 'b', 'c', 'd', 'e'], {}],
  logprobs: ['yes', 3],
  top_logprobs: [50, -1, 'x'],
  presence_penalty: ['x', {}],
  frequency_penalty: ['x', []],
  seed: [1.5, 's', {}],
  stream_options: ['x', 5, []],
};
const BAD_COMPLETION_FIELDS: Record<string, unknown[]> = {
  prompt: [5, {}, [[1, 2], [3]], [-1], [1e12], '', [], true, [1.5]],
  max_tokens: [-1, 1e12, 'x', 0],
  logprobs: [10, -1, 'x'],
  stream_options: ['x'],
};

function pick<T>(random: () => number, items: readonly T[]): T {
  return items[Math.floor(random() * items.length)];
}

function jsonCase(kind: string, path: string, body: unknown, mayPass = false): Case {
  return { kind, path, body: Buffer.from(JSON.stringify(body)), mayPass };
}

function generateCases(random: () => number): Case[] {
  const generators: (() => Case)[] = [
    () => {
      const text = JSON.stringify(validChat());
      return {
        kind: 'truncated JSON',
        path: CHAT,
        body: Buffer.from(text.slice(0, Math.floor(random() * text.length))),
      };
    },
    () => {
      const bytes = Buffer.alloc(1 + Math.floor(random() * 200));
      for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(random() * 256);
      return { kind: 'random bytes', path: pick(random, [CHAT, COMPLETIONS]), body: bytes };
    },
    () => {
      // Valid JSON structure around bytes that are not UTF-8 (a lone continuation byte, an overlong form).
      const bad = pick(random, [[0x80], [0xc0, 0xaf], [0xff, 0xfe], [0xed, 0xa0, 0x80]]);
      const body = Buffer.concat([
        Buffer.from('{"messages":[{"role":"user","content":"'),
        Buffer.from(bad),
        Buffer.from('"}]}'),
      ]);
      return { kind: 'invalid UTF-8', path: CHAT, body };
    },
    () =>
      jsonCase('not an object', pick(random, [CHAT, COMPLETIONS]), pick(random, [[], 5, 'x', null, true])),
    () => {
      const [field, values] = pick(random, Object.entries(BAD_CHAT_FIELDS));
      return jsonCase(`chat ${field}`, CHAT, { ...validChat(), [field]: pick(random, values) });
    },
    () => {
      const [field, values] = pick(random, Object.entries(BAD_COMPLETION_FIELDS));
      return jsonCase(`completions ${field}`, COMPLETIONS, {
        ...validCompletion(),
        [field]: pick(random, values),
      });
    },
    () => {
      const size = MAX_BODY + 1 + Math.floor(random() * 4 * MAX_BODY);
      return jsonCase('huge body', pick(random, [CHAT, COMPLETIONS]), {
        ...validChat(),
        pad: 'x'.repeat(size),
      });
    },
    () => {
      const { max_tokens: _, ...rest } = validChat();
      return jsonCase('missing messages', CHAT, { ...rest, messages: undefined });
    },
    () =>
      jsonCase(
        'unknown field',
        pick(random, [CHAT, COMPLETIONS]),
        {
          ...validCompletion(),
          ...validChat(),
          [`x_${Math.floor(random() * 1e6)}`]: pick(random, [1, 'a', {}, []]),
        },
        true,
      ),
  ];
  return Array.from({ length: TOTAL }, () => pick(random, generators)());
}

async function send(
  c: Case,
): Promise<{ status: number; body: { error?: { message: string; type: string } } }> {
  const res = await fetch(`${ts.server.url}${c.path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: c.body,
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : {} };
}

test(`${TOTAL} malformed requests: all 4xx in OpenAI's error shape, the server alive afterwards`, async (t) => {
  const cases = generateCases(rng(20240611));
  const byKind = new Map<string, number>();
  let rejected = 0;
  let unknownFieldsServed = 0;
  const failures: string[] = [];
  const CONCURRENCY = 16;
  for (let i = 0; i < cases.length; i += CONCURRENCY) {
    const batch = cases.slice(i, i + CONCURRENCY);
    const replies = await Promise.all(batch.map(send));
    replies.forEach((reply, j) => {
      const c = batch[j];
      byKind.set(c.kind, (byKind.get(c.kind) ?? 0) + 1);
      if (c.mayPass && reply.status === 200) {
        unknownFieldsServed++;
        return;
      }
      const wellFormed =
        typeof reply.body.error?.message === 'string' && typeof reply.body.error.type === 'string';
      if (reply.status >= 400 && reply.status < 500 && wellFormed) rejected++;
      else
        failures.push(`${c.kind} ${c.path} → ${reply.status} ${c.body.subarray(0, 80).toString('latin1')}`);
    });
  }
  t.diagnostic(
    `4xx: ${rejected}, unknown-field requests served: ${unknownFieldsServed}, by kind: ${JSON.stringify(Object.fromEntries(byKind))}`,
  );
  assert.deepEqual(failures, [], 'every malformed request is a 4xx with an error body');
  assert.equal(rejected + unknownFieldsServed, TOTAL);
  assert.ok(unknownFieldsServed > 0 && byKind.size >= 8, `kinds: ${JSON.stringify([...byKind])}`);

  const sample = goldenSamples()[1];
  const res = await fetch(`${ts.server.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'fortune-llama', messages: sample.messages, temperature: 0 }),
  });
  assert.equal(res.status, 200);
  const json = (await res.json()) as { choices: { message: { content: string } }[] };
  assert.equal(json.choices[0].message.content, sample.greedy_text);
  const health = (await (await fetch(`${ts.server.url}/health`)).json()) as HealthReply;
  assert.equal(health.requests.in_flight, 0);
  assert.equal(health.requests.server_error, 0);
  assert.equal(health.requests.client_error, rejected);
  assert.equal(health.instances.length, 1);
});
