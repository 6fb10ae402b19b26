/**
 * What a client sees when the engine fails: before any token it gets a real HTTP 500 in OpenAI's error
 * shape; mid-stream (headers already sent) an SSE error event followed by [DONE]. The real engine cannot
 * be made to fail on demand, so a scripted engine stands in here (real tokenizer, real server).
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { EngineOutput, EngineRequest, InferenceEngine } from '../protocols/engine.ts';
import { Tokenizer } from '../tokens/index.ts';
import { configureLogging } from '../util/logger.ts';
import { defaultModelDir } from '../util/paths.ts';
import { type HttpServerHandle, startHttpServer } from './http-server.ts';
import { goldenSamples, quietLogs } from './testing/frontend-kit.ts';

quietLogs();

/** Replays the golden greedy ids, then fails the way the prompt's first word asks. */
class ScriptedEngine implements InferenceEngine {
  readonly info = { name: 'scripted', contextLength: 1024, vocabSize: 2048, eosTokenIds: [2] };
  constructor(private readonly script: { tokensBeforeFailure: number; failure: 'throw' | 'error' }) {}

  async *generate(request: EngineRequest): AsyncIterable<EngineOutput> {
    const ids = goldenSamples()[0].greedy_ids.slice(0, this.script.tokensBeforeFailure);
    for (const tokenId of ids) yield { requestId: request.requestId, tokenId, numCachedTokens: 0 };
    if (this.script.failure === 'throw') throw new Error('simulated engine crash');
    yield { requestId: request.requestId, tokenId: 0, numCachedTokens: 0, finishReason: 'error' };
  }

  async close(): Promise<void> {}
}

const servers: HttpServerHandle[] = [];
let tokenizer: Tokenizer;

const logLines: string[] = [];

before(async () => {
  tokenizer = await Tokenizer.fromDir(defaultModelDir);
  configureLogging({ level: 'info', format: 'text', write: (line) => logLines.push(line) });
});
after(async () => {
  for (const s of servers) await s.close();
});

async function serve(script: ConstructorParameters<typeof ScriptedEngine>[0]): Promise<string> {
  const engine = new ScriptedEngine(script);
  const server = await startHttpServer({ engine, tokenizer, modelName: 'scripted', port: 0 });
  servers.push(server);
  return server.url;
}

function post(url: string, stream: boolean): Promise<Response> {
  return fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ messages: [{ role: 'user', content: 'hi' }], stream }),
  });
}

test('an engine that crashes before the first token gives an HTTP 500 error body', async () => {
  const url = await serve({ tokensBeforeFailure: 0, failure: 'throw' });
  for (const stream of [false, true]) {
    const res = await post(url, stream);
    assert.equal(res.status, 500);
    const body = (await res.json()) as { error: { type: string; message: string } };
    assert.equal(body.error.type, 'internal_server_error');
    assert.match(body.error.message, /simulated engine crash/);
  }
});

test('an engine failure mid-stream becomes an SSE error event, then [DONE]', async () => {
  const url = await serve({ tokensBeforeFailure: 5, failure: 'error' });
  const res = await post(url, true);
  assert.equal(res.status, 200);
  const events = (await res.text())
    .split('\n\n')
    .filter((e) => e.startsWith('data: '))
    .map((e) => e.slice('data: '.length));
  assert.equal(events.at(-1), '[DONE]');
  const error = JSON.parse(events.at(-2) ?? '{}');
  assert.equal(error.error.type, 'internal_server_error');
  assert.match(error.error.message, /ended request chatcmpl-\w+ with an error/);
  const text = events
    .slice(0, -2)
    .map((e) => JSON.parse(e).choices[0].delta.content ?? '')
    .join('');
  assert.equal(text, tokenizer.decode(goldenSamples()[0].greedy_ids.slice(0, 5)));
});

test('a non-streaming request whose engine reports an error is a 500', async () => {
  const url = await serve({ tokensBeforeFailure: 3, failure: 'error' });
  const res = await post(url, false);
  assert.equal(res.status, 500);
  const requestId = res.headers.get('x-request-id') ?? 'missing';
  assert.match(requestId, /^chatcmpl-/);
  const lines = logLines.filter((l) => l.includes(`requestId=${requestId}`));
  assert.deepEqual(
    lines.map((l) => / (request failed|request done|request) /.exec(l)?.[1]),
    ['request', 'request failed', 'request done'],
    'every log line of the request carries its id',
  );
  assert.match(lines[2], /end=server_error/);
});
