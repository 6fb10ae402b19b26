/**
 * A test double with known timing: an OpenAI-shaped HTTP server that streams `max_tokens` chunks, the first
 * after `ttftMs`, then one every `itlMs`, and records when it actually wrote each one (timers run late on
 * a busy machine, so the recorded times, not the settings, are the truth a client's numbers are checked
 * against). Serves GET /v1/models, POST /v1/completions and /v1/chat/completions; `ttftMs: 0, itlMs: 0`
 * makes it a zero-delay endpoint for measuring the load generator's own ceiling.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';

export interface TimedServerOptions {
  ttftMs: number;
  itlMs: number;
  model?: string;
  /** Answer this many requests with HTTP 503 first (error accounting tests). */
  failFirst?: number;
}

/** What the server did for one request, on the same clock as the client (performance.now()). */
export interface ServedRequest {
  arrivedAt: number;
  chunkTimes: number[];
  endedAt: number;
  promptChars: number;
}

export interface TimedServer {
  url: string;
  served: ServedRequest[];
  close(): Promise<void>;
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (s: string) => {
      body += s;
    });
    req.on('end', () => resolve(body));
    req.on('error', reject);
  });
}

/**
 * Sleep until `due` (performance.now() ms), never returning early: timers truncate fractional delays, so a
 * 4.9 ms wait could end after 4 ms and a chunk would leave before its scheduled time.
 */
async function waitUntil(due: number): Promise<void> {
  for (let left = due - performance.now(); left > 0; left = due - performance.now()) {
    await new Promise((r) => setTimeout(r, Math.ceil(left)));
  }
}

export async function startTimedServer(o: TimedServerOptions): Promise<TimedServer> {
  const model = o.model ?? 'timed-model';
  const served: ServedRequest[] = [];
  let failures = o.failFirst ?? 0;
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const arrivedAt = performance.now();
    if (req.method === 'GET' && req.url === '/v1/models') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ object: 'list', data: [{ id: model, object: 'model' }] }));
      return;
    }
    const body = JSON.parse(await readBody(req)) as {
      max_tokens: number;
      prompt?: string;
      messages?: Array<{ content: string }>;
    };
    if (failures > 0) {
      failures--;
      res.writeHead(503, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { message: 'busy', type: 'service_unavailable' } }));
      return;
    }
    const chat = req.url === '/v1/chat/completions';
    const prompt = body.prompt ?? body.messages?.map((m) => m.content).join('') ?? '';
    const record: ServedRequest = { arrivedAt, chunkTimes: [], endedAt: 0, promptChars: prompt.length };
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    const start = performance.now();
    for (let i = 0; i < body.max_tokens; i++) {
      // Aim each chunk at its scheduled time from the start, so one late timer does not shift the rest.
      const due = start + o.ttftMs + i * o.itlMs;
      await waitUntil(due);
      const choice = chat ? { index: 0, delta: { content: ` t${i}` } } : { index: 0, text: ` t${i}` };
      res.write(`data: ${JSON.stringify({ choices: [choice] })}\n\n`);
      record.chunkTimes.push(performance.now());
    }
    const usage = {
      prompt_tokens: Math.ceil(prompt.length / 4),
      completion_tokens: body.max_tokens,
      prompt_tokens_details: { cached_tokens: 0 },
    };
    res.write(`data: ${JSON.stringify({ choices: [], usage })}\n\ndata: [DONE]\n\n`);
    res.end();
    record.endedAt = performance.now();
    served.push(record);
  };
  const server: Server = createServer((req, res) => {
    handle(req, res).catch((err: Error) => {
      res.writeHead(500);
      res.end(err.message);
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/v1`,
    served,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
