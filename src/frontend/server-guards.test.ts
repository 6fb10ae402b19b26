/**
 * The HTTP server's guards, over real sockets: nested JSON is a 400 before JSON.parse can overflow the
 * stack, non-JSON Content-Types are 415, a slow body is cut by the body timeout, connections past the cap
 * are closed, a request past its deadline is cut (504, or an error event mid-stream), close() drains
 * (Connection: close, new requests 503, streams it must cut end with an error event), and one huge prompt
 * is tokenized off the event loop while a small request completes. A scripted engine stands in for the
 * workers (real tokenizer, real server): these are the server's own behaviours, not the engine's.
 */
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { connect, type Socket } from 'node:net';
import { after, before, test } from 'node:test';
import type { EngineOutput, EngineRequest, InferenceEngine } from '../protocols/engine.ts';
import { Tokenizer } from '../tokens/index.ts';
import { defaultModelDir } from '../util/paths.ts';
import { type HttpServerHandle, type HttpServerOptions, startHttpServer } from './http-server.ts';
import { goldenSamples, quietLogs } from './testing/frontend-kit.ts';

quietLogs();

/** Streams the golden greedy ids over and over, one every `delayMs`, until max_tokens or the signal. */
class SlowEngine implements InferenceEngine {
  readonly info: InferenceEngine['info'];
  aborted = 0;
  started = 0;

  constructor(
    private readonly delayMs: number,
    contextLength = 1024,
  ) {
    this.info = { name: 'slow', contextLength, vocabSize: 2048, eosTokenIds: [2] };
  }

  async *generate(request: EngineRequest, signal?: AbortSignal): AsyncIterable<EngineOutput> {
    this.started++;
    const ids = goldenSamples()[0].greedy_ids.filter((id) => id !== 2);
    for (let i = 0; i < request.stopping.maxTokens; i++) {
      if (this.delayMs > 0) await new Promise((resolve) => setTimeout(resolve, this.delayMs));
      if (signal?.aborted) {
        this.aborted++;
        return;
      }
      const last = i === request.stopping.maxTokens - 1;
      yield {
        requestId: request.requestId,
        tokenId: ids[i % ids.length],
        numCachedTokens: 0,
        ...(last ? { finishReason: 'length' as const } : {}),
      };
    }
  }

  async close(): Promise<void> {}
}

let tokenizer: Tokenizer;
const servers: HttpServerHandle[] = [];

before(async () => {
  tokenizer = await Tokenizer.fromDir(defaultModelDir);
});
after(async () => {
  for (const s of servers) await s.close();
});

async function serve(
  engine: InferenceEngine,
  options: Partial<HttpServerOptions> = {},
): Promise<HttpServerHandle> {
  const server = await startHttpServer({
    engine,
    tokenizer,
    modelName: 'slow',
    port: 0,
    drainTimeoutMs: 2000,
    ...options,
  } as HttpServerOptions);
  servers.push(server);
  return server;
}

function post(
  url: string,
  path: string,
  body: string | Buffer,
  headers: Record<string, string> = { 'content-type': 'application/json' },
): Promise<Response> {
  return fetch(`${url}${path}`, { method: 'POST', headers, body });
}

const chat = (extra: object = {}): string =>
  JSON.stringify({ messages: [{ role: 'user', content: 'hi' }], max_tokens: 4, ...extra });

/** The `data:` payloads of an SSE body. */
function sseEvents(text: string): string[] {
  return text
    .split('\n\n')
    .filter((e) => e.startsWith('data: '))
    .map((e) => e.slice(6));
}

test('100k levels of nested JSON: a 400 naming the depth, before JSON.parse recurses; the server lives', async () => {
  const { url } = await serve(new SlowEngine(0));
  for (const nested of ['['.repeat(100_000), `{"a":${'['.repeat(100_000)}1${']'.repeat(100_000)}}`]) {
    const res = await post(url, '/v1/chat/completions', nested);
    assert.equal(res.status, 400);
    const body = (await res.json()) as { error: { code: string; message: string } };
    assert.equal(body.error.code, 'json_too_deep');
    assert.match(body.error.message, /more than 64 levels/);
  }
  // Brackets inside strings are text, not nesting.
  const res = await post(url, '/v1/chat/completions', chat({ stop: ['['.repeat(100)] }));
  assert.equal(res.status, 200);
});

test('a non-JSON Content-Type is 415 (a cross-site text/plain or form POST is not served); none at all is accepted', async () => {
  const { url } = await serve(new SlowEngine(0));
  for (const type of [
    'text/plain;charset=UTF-8',
    'application/x-www-form-urlencoded',
    'multipart/form-data',
  ]) {
    const res = await post(url, '/v1/chat/completions', chat(), { 'content-type': type });
    assert.equal(res.status, 415, type);
    const body = (await res.json()) as { error: { code: string; message: string } };
    assert.equal(body.error.code, 'unsupported_media_type');
    assert.match(body.error.message, /application\/json/);
  }
  const charset = await post(url, '/v1/completions', JSON.stringify({ prompt: 'hi', max_tokens: 2 }), {
    'content-type': 'application/json; charset=utf-8',
  });
  assert.equal(charset.status, 200);
  const none = await new Promise<number>((resolve, reject) => {
    const req = httpRequest(`${url}/v1/chat/completions`, { method: 'POST' }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end(chat());
  });
  assert.equal(none, 200);
});

/** Resolves when the server closes `socket`; `onOpen` keeps writing meanwhile. */
function closedByServer(socket: Socket): Promise<string> {
  return new Promise((resolve) => {
    let received = '';
    socket.on('data', (d) => (received += d.toString('latin1')));
    socket.on('close', () => resolve(received));
    socket.on('error', () => {});
  });
}

test('an endless chunked body is cut by the body timeout (408 and close)', async () => {
  const { port } = await serve(new SlowEngine(0), { headersTimeoutMs: 200, bodyTimeoutMs: 400 });
  const sockets = Array.from({ length: 5 }, () => connect(port, '127.0.0.1'));
  const closed = sockets.map(closedByServer);
  const drips = sockets.map((socket) => {
    socket.write(
      'POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\n' +
        'transfer-encoding: chunked\r\n\r\n',
    );
    return setInterval(() => socket.writable && socket.write('1\r\n \r\n'), 50);
  });
  const replies = await Promise.all(closed);
  for (const drip of drips) clearInterval(drip);
  for (const reply of replies) assert.match(reply, /^HTTP\/1\.1 408|^$/);
});

test('a client that never finishes its headers is cut by the header timeout', async () => {
  const { port } = await serve(new SlowEngine(0), { headersTimeoutMs: 200, bodyTimeoutMs: 400 });
  const socket = connect(port, '127.0.0.1');
  const closed = closedByServer(socket);
  socket.write('POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n');
  const drip = setInterval(() => socket.writable && socket.write('x-slow: 1\r\n'), 50);
  await closed;
  clearInterval(drip);
});

test('connections past --max-connections are closed as they arrive; a freed slot is usable again', async () => {
  const { port, url } = await serve(new SlowEngine(0), { maxConnections: 4 });
  const open = Array.from({ length: 4 }, () => connect(port, '127.0.0.1'));
  await Promise.all(open.map((s) => new Promise((resolve) => s.once('connect', resolve))));
  // Let the server count them before the next one arrives.
  await new Promise((resolve) => setTimeout(resolve, 50));
  const extra = connect(port, '127.0.0.1');
  extra.write('GET /live HTTP/1.1\r\nHost: x\r\n\r\n');
  assert.doesNotMatch(await closedByServer(extra), /200 OK/);
  for (const s of open) s.destroy();
  // The slot frees once the server has seen a close: poll (a fixed 50 ms can fire first on a loaded box).
  const deadline = Date.now() + 10_000;
  let status = 0;
  while (status !== 200 && Date.now() < deadline) {
    status = await fetch(`${url}/live`).then(
      (res) => res.status,
      () => 0,
    );
    if (status !== 200) await new Promise((resolve) => setTimeout(resolve, 20));
  }
  assert.equal(status, 200);
});

test('--request-timeout: a stream past its deadline ends with an error event; an unanswered request gets 504', async () => {
  const engine = new SlowEngine(20);
  const { url } = await serve(engine, { requestTimeoutMs: 300 });
  const streamed = await post(url, '/v1/chat/completions', chat({ max_tokens: 1000, stream: true }));
  assert.equal(streamed.status, 200);
  const events = sseEvents(await streamed.text());
  assert.equal(events.at(-1), '[DONE]');
  const error = JSON.parse(events.at(-2) ?? '{}') as { error?: { code: string } };
  assert.equal(error.error?.code, 'request_timeout');
  assert.ok(events.length > 3, 'some tokens streamed before the deadline');

  const whole = await post(url, '/v1/chat/completions', chat({ max_tokens: 1000 }));
  assert.equal(whole.status, 504);
  assert.equal(((await whole.json()) as { error: { code: string } }).error.code, 'request_timeout');
  // The engine sees the cancel at its next token (≤ 20 ms later, more on a loaded box): wait for it.
  const deadline = Date.now() + 5000;
  while (engine.aborted < 2 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
  assert.ok(engine.aborted >= 2, 'the engine requests were cancelled');
});

/** POST over a keep-alive agent connection; resolves with the status, the Connection header and the body. */
function keepAlivePost(
  url: string,
  body: string,
): Promise<{ status: number; connection: string | undefined; text: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      `${url}/v1/chat/completions`,
      { method: 'POST', headers: { 'content-type': 'application/json', connection: 'keep-alive' } },
      (res) => {
        let text = '';
        res.on('data', (d) => (text += d));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, connection: res.headers.connection, text }),
        );
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

test('close() drains: responses say Connection: close, streams it must cut end with an error event', async () => {
  const engine = new SlowEngine(20);
  // The drain outlasts the short request (10 tokens × 20 ms) with room for a loaded CI box; the stream
  // (1000 × 20 ms) outlasts the drain, so close() must cut it.
  const server = await serve(engine, { drainTimeoutMs: 3000 });
  const short = keepAlivePost(server.url, chat({ max_tokens: 10 }));
  const long = keepAlivePost(server.url, chat({ max_tokens: 1000, stream: true }));
  // Close only once both requests are in the engine, not after a fixed sleep a busy box may outrun.
  while (engine.started < 2) await new Promise((resolve) => setTimeout(resolve, 5));
  const closing = server.close();
  const finished = await short;
  assert.equal(finished.status, 200, 'an in-flight request finishes during the drain');
  assert.equal(finished.connection, 'close');
  const cut = await long;
  const events = sseEvents(cut.text);
  assert.equal(events.at(-1), '[DONE]');
  const error = JSON.parse(events.at(-2) ?? '{}') as { error?: { code: string } };
  assert.equal(error.error?.code, 'shutting_down');
  await closing;
  await assert.rejects(fetch(`${server.url}/live`), 'no new connections after close');
});

test('one huge prompt is tokenized off the event loop: a small request completes meanwhile', async () => {
  // A context large enough that the byte bound lets 900 KB through: the tokenizer must really run.
  const { url } = await serve(new SlowEngine(0, 100_000_000), {
    tokenize: { threads: 1, offThreadBytes: 64 * 1024 },
  });
  const order: string[] = [];
  const huge = 'All work and no play makes Jack a dull boy. '.repeat(20_000);
  const big = post(url, '/v1/completions', JSON.stringify({ prompt: huge, max_tokens: 1 })).then(
    async (res) => {
      order.push(
        `big ${res.status} ${((await res.json()) as { usage: { prompt_tokens: number } }).usage.prompt_tokens}`,
      );
    },
  );
  await new Promise((resolve) => setTimeout(resolve, 200));
  const small = await post(url, '/v1/completions', JSON.stringify({ prompt: 'hi', max_tokens: 2 }));
  order.push(`small ${small.status}`);
  await big;
  assert.equal(order[0], 'small 200');
  assert.equal(order[1], `big 200 ${tokenizer.encode(huge).length}`);
});

test('a prompt provably longer than the context is refused before tokenizing (400, the numbers)', async () => {
  const { url } = await serve(new SlowEngine(0));
  const res = await post(
    url,
    '/v1/completions',
    JSON.stringify({ prompt: 'x'.repeat(3_000_000), max_tokens: 1 }),
  );
  assert.equal(res.status, 400);
  const body = (await res.json()) as { error: { code: string; message: string; param: string } };
  assert.equal(body.error.code, 'context_length_exceeded');
  assert.equal(body.error.param, 'prompt');
  assert.match(body.error.message, /3000000 bytes, which is at least \d+ tokens/);
});
