/**
 * POST /tokenize and /detokenize against a real frontend and worker: vLLM's shapes, the chat count equals
 * what a chat completion reports as prompt_tokens, round trips, and 400s that name the field.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { quietLogs, startTestServer, type TestServer } from './testing/frontend-kit.ts';

quietLogs();
let ts: TestServer;
before(async () => {
  ts = await startTestServer();
});
after(async () => {
  await ts.close();
});

async function post(path: string, body: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(`${ts.server.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

const messages = [
  { role: 'system', content: 'You are a fortune teller.' },
  { role: 'user', content: 'What does tomorrow hold?' },
];

test('a prompt: ids as the tokenizer makes them, count, max_model_len, token strings on request', async () => {
  const { status, json } = await post('/tokenize', {
    prompt: 'Hello world, hello tokens',
    return_token_strs: true,
  });
  assert.equal(status, 200);
  const ids = ts.tokenizer.encode('Hello world, hello tokens', { addSpecialTokens: true });
  assert.deepEqual(json.tokens, ids);
  assert.equal(json.count, ids.length);
  assert.equal(json.max_model_len, ts.contextLength);
  assert.deepEqual(
    json.token_strs,
    ids.map((id) => ts.tokenizer.idToToken(id)),
  );
  const plain = await post('/tokenize', { prompt: 'Hello world, hello tokens', add_special_tokens: false });
  assert.deepEqual(
    plain.json.tokens,
    ts.tokenizer.encode('Hello world, hello tokens', { addSpecialTokens: false }),
  );
  assert.equal(plain.json.token_strs, undefined);
});

test('a chat: the count is the prompt_tokens a chat completion reports', async () => {
  const tokenized = await post('/tokenize', { messages });
  const completion = await post('/v1/chat/completions', { messages, max_tokens: 1 });
  assert.equal(completion.status, 200);
  assert.equal(tokenized.json.count, (completion.json.usage as { prompt_tokens: number }).prompt_tokens);
  const noPrompt = await post('/tokenize', { messages, add_generation_prompt: false });
  assert.ok((noPrompt.json.count as number) < (tokenized.json.count as number), 'no assistant header');
});

test('detokenize inverts tokenize', async () => {
  const { json } = await post('/tokenize', { prompt: 'The quick brown fox', add_special_tokens: false });
  const back = await post('/detokenize', { tokens: json.tokens });
  assert.equal(back.status, 200);
  assert.deepEqual(back.json, { prompt: 'The quick brown fox' });
});

test('bad input is a 400 naming the field', async () => {
  const cases: Array<[string, unknown, string]> = [
    ['/tokenize', { prompt: 5 }, 'prompt'],
    ['/tokenize', { prompt: 'x', messages }, 'messages'],
    ['/tokenize', { messages: [{ role: 'wizard', content: 'x' }] }, 'messages[0].role'],
    ['/tokenize', { prompt: 'x', add_special_tokens: 'yes' }, 'add_special_tokens'],
    ['/detokenize', { tokens: [1, -2] }, 'tokens'],
    ['/detokenize', { tokens: [10_000_000] }, 'tokens'],
  ];
  for (const [path, body, param] of cases) {
    const { status, json } = await post(path, body);
    assert.equal(status, 400, `${path} ${JSON.stringify(body)}`);
    assert.equal((json.error as { param: string }).param, param);
  }
});
