/**
 * The frontend's security edge, on a real HTTP server: --api-key (401 in OpenAI's shape without it, 200
 * with it, probes public unless configured otherwise), and error bodies that never carry stack traces,
 * file paths or worker addresses. A scripted engine stands in for the worker so failures can be ordered.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { EngineOutput, EngineRequest, InferenceEngine } from '../protocols/engine.ts';
import { StreamDisconnectedError } from '../runtime/request-plane/index.ts';
import { Tokenizer } from '../tokens/index.ts';
import { defaultModelDir } from '../util/paths.ts';
import { type HttpServerHandle, type HttpServerOptions, startHttpServer } from './http-server.ts';
import { redactInternals } from './redact.ts';
import { quietLogs } from './testing/frontend-kit.ts';

quietLogs();

const KEY = 'sk-test-0123456789abcdef';
const LEAKY_MESSAGE =
  'connect ECONNREFUSED 10.0.0.7:9000 while reading /home/dhw/models/fortune/weights.bin (worker-3.internal:7001)';

/** Answers one token, or fails the way the prompt asks: 'leak' (a message full of internals) or 'cut'. */
class ScriptedEngine implements InferenceEngine {
  readonly info = { name: 'scripted', contextLength: 1024, vocabSize: 2048, eosTokenIds: [2] };
  constructor(private readonly failure: 'none' | 'leak' | 'cut') {}

  async *generate(request: EngineRequest): AsyncIterable<EngineOutput> {
    if (this.failure === 'leak') throw new Error(LEAKY_MESSAGE);
    if (this.failure === 'cut') {
      const origin = { address: '10.0.0.7:9000', endpoint: 'generate', requestId: request.requestId };
      throw new StreamDisconnectedError(origin, 0, 'connection lost (read ECONNRESET)');
    }
    yield { requestId: request.requestId, tokenId: 5, numCachedTokens: 0, finishReason: 'length' };
  }

  async close(): Promise<void> {}
}

let tokenizer: Tokenizer;
const servers: HttpServerHandle[] = [];
before(async () => {
  tokenizer = await Tokenizer.fromDir(defaultModelDir);
});
after(async () => {
  for (const server of servers) await server.close();
});

async function serve(
  extra: Partial<HttpServerOptions> = {},
  failure: 'none' | 'leak' | 'cut' = 'none',
): Promise<string> {
  const engine = new ScriptedEngine(failure);
  const server = await startHttpServer({ engine, tokenizer, modelName: 'scripted', port: 0, ...extra });
  servers.push(server);
  return server.url;
}

function chat(url: string, headers: Record<string, string> = {}, stream = false): Promise<Response> {
  return fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({
      model: 'scripted',
      messages: [{ role: 'user', content: 'hi' }],
      max_tokens: 1,
      stream,
    }),
  });
}

interface ErrorReply {
  error: { message: string; type: string; param: string | null; code: string | null };
}

test('without the key: 401 in OpenAI shape; a wrong key: 401 invalid_api_key; the key: 200', async () => {
  const url = await serve({ apiKey: KEY });
  const missing = await chat(url);
  assert.equal(missing.status, 401);
  assert.equal(missing.headers.get('www-authenticate'), 'Bearer');
  const missingBody = (await missing.json()) as ErrorReply;
  assert.deepEqual(Object.keys(missingBody.error).sort(), ['code', 'message', 'param', 'type']);
  assert.equal(missingBody.error.type, 'invalid_request_error');
  assert.equal(missingBody.error.code, 'missing_api_key');

  const wrong = await chat(url, { authorization: `Bearer ${KEY}x` });
  assert.equal(wrong.status, 401);
  const wrongBody = (await wrong.json()) as ErrorReply;
  assert.equal(wrongBody.error.code, 'invalid_api_key');
  assert.ok(!wrongBody.error.message.includes(KEY), 'the key is never echoed');

  const right = await chat(url, { authorization: `Bearer ${KEY}` });
  assert.equal(right.status, 200);
  assert.equal(((await right.json()) as { object: string }).object, 'chat.completion');
});

test('every non-public path needs the key, unknown ones too (401, not 404)', async () => {
  const url = await serve({ apiKey: KEY });
  for (const path of ['/v1/models', '/v1/completions', '/no/such/path']) {
    const res = await fetch(`${url}${path}`);
    assert.equal(res.status, 401, path);
    await res.body?.cancel();
  }
  const models = await fetch(`${url}/v1/models`, { headers: { authorization: `bearer ${KEY}` } });
  assert.equal(models.status, 200);
  await models.body?.cancel();
});

test('/health, /live and /metrics are public by default and can be closed', async () => {
  const open = await serve({ apiKey: KEY });
  for (const path of ['/health', '/live', '/metrics']) {
    const res = await fetch(`${open}${path}`);
    assert.equal(res.status, 200, path);
    await res.body?.cancel();
  }
  const closed = await serve({ apiKey: KEY, publicPaths: ['/live'] });
  assert.equal((await fetch(`${closed}/live`)).status, 200);
  for (const path of ['/health', '/metrics']) {
    const res = await fetch(`${closed}${path}`);
    assert.equal(res.status, 401, path);
    await res.body?.cancel();
  }
  const authed = await fetch(`${closed}/metrics`, { headers: { authorization: `Bearer ${KEY}` } });
  assert.equal(authed.status, 200);
  await authed.body?.cancel();
});

test('no key configured: nothing changes (no 401 anywhere)', async () => {
  const url = await serve();
  assert.equal((await chat(url)).status, 200);
});

test('client-visible errors carry no stack trace, file path or internal address', async () => {
  const bodies: string[] = [];
  const leaky = await serve({}, 'leak');
  for (const stream of [false, true]) {
    const res = await chat(leaky, {}, stream);
    assert.equal(res.status, 500);
    bodies.push(await res.text());
  }
  const cut = await serve({}, 'cut');
  for (const stream of [false, true]) {
    const res = await chat(cut, {}, stream);
    assert.equal(res.status, 502);
    const text = await res.text();
    assert.equal((JSON.parse(text) as ErrorReply).error.code, 'worker_failed');
    assert.doesNotMatch(text, /can be migrated/);
    bodies.push(text);
  }
  for (const body of bodies) {
    assert.doesNotMatch(body, /\d+\.\d+\.\d+\.\d+/, `an IP address leaked: ${body}`);
    assert.doesNotMatch(body, /:\d{4}\b/, `a port leaked: ${body}`);
    assert.doesNotMatch(
      body,
      /\/home\/|weights\.bin|\.ts:\d+|\bat \w+ \(/,
      `a path or stack leaked: ${body}`,
    );
    assert.doesNotMatch(body, /worker-3\.internal/);
  }
  assert.match(bodies[0], /ECONNREFUSED <address> while reading <path>/, 'what failed is still said');
});

test('redactInternals keeps the words and drops the where', () => {
  assert.equal(
    redactInternals('dial [::1]:7000 and 127.0.0.1:80, read /etc/dhw/secret; see GET /v1/models'),
    'dial <address> and <address>, read <path>; see GET /v1/models',
  );
  assert.equal(redactInternals('worker-1.cluster.local:9000 refused'), '<address> refused');
  assert.equal(
    redactInternals('Cannot reach worker at unix:/tmp/dhw-rp-41-0a1b.sock (ENOENT)'),
    'Cannot reach worker at <address> (ENOENT)',
  );
  assert.equal(redactInternals('maxTokens must be at most 1024'), 'maxTokens must be at most 1024');
});
