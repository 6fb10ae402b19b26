/**
 * Lab 2.4: the frontend alone. An embedded `dhw serve` (one fortune-llama worker and the frontend in this
 * process, in-memory discovery, events and request plane) and then what a client sees over HTTP: the health
 * endpoints, the OpenAI request translated into an engine request, a streamed reply read byte by byte off the
 * socket (TCP reads → HTTP chunks → SSE events), the error shapes, one request id followed through the logs,
 * a client that hangs up, and the Prometheus metrics. Like testing nginx in front of one app server with
 * curl: status codes, headers, framing, access log, stub_status.
 *
 * @expect /GET \/live → 200 \{"status":"live"\}/
 * @expect /GET \/health → 200 .*"status":"healthy"/
 * @expect /crossed the request plane: generate \{.*"promptTokenIds"/
 * @expect /TCP read #1 at \+[\d.]+ ms/
 * @expect data: [DONE]
 * @expect /SSE events: \d+ \(1 role, \d+ content, 1 finish, 1 usage, \[DONE\]\)/
 * @expect /413 +invalid_request_error/
 * @expect /404 +invalid_request_error +model_not_found/
 * @expect /400 +invalid_request_error +context_length_exceeded/
 * @expect /\[router\] route requestId=lab-2-4-trace/
 * @expect /client hung up after \d+ chunks: \/health requests\.cancelled \d+ → \d+/
 * @expect /dynamo_frontend_requests_total\{.*\} \d+/
 * @expect stack stopped
 * @expect Lab complete.
 */
import { performance } from 'node:perf_hooks';
import type { ServedModel } from '../../../src/frontend/index.ts';
import {
  argValue,
  banner,
  formatMs,
  isSmoke,
  note,
  printTable,
  runLab,
  step,
  visible,
} from '../../lib/lab-kit.ts';
import { type EmbeddedStack, startEmbeddedStack } from '../../lib/embedded-stack.ts';
import { LogCapture, shorten } from '../../lib/log-capture.ts';
import { rawRequest, sseEvents } from './raw-http.ts';

const MAX_TOKENS = Number(argValue('max-tokens') ?? (isSmoke() ? 8 : 24));
const MAX_BODY_BYTES = 64 * 1024;
const MESSAGES = [
  { role: 'system', content: 'You are a fortune cookie.' },
  { role: 'user', content: 'What does my future hold?' },
];

interface HttpReply {
  status: number;
  headers: Headers;
  text: string;
  ms: number;
}

async function http(url: string, init?: RequestInit): Promise<HttpReply> {
  const start = performance.now();
  const res = await fetch(url, init);
  const text = await res.text();
  return { status: res.status, headers: res.headers, text, ms: performance.now() - start };
}

const post = (url: string, body: unknown, headers: Record<string, string> = {}) =>
  http(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });

async function healthEndpoints(url: string): Promise<void> {
  for (const path of ['/live', '/health', '/v1/models']) {
    const reply = await http(`${url}${path}`);
    note(`GET ${path} → ${reply.status} ${shorten(reply.text.trim(), 260)}  (${formatMs(reply.ms)})`);
  }
}

async function translation(stack: EmbeddedStack, model: ServedModel, calls: unknown[]): Promise<void> {
  const tokenizer = stack.frontend.models.list()[0]!.tokenizer;
  const request = { model: model.name, messages: MESSAGES, max_tokens: MAX_TOKENS, temperature: 0 };
  note(`POST /v1/chat/completions ${JSON.stringify(request)}`);
  const templated = tokenizer.applyChatTemplate(MESSAGES, { addGenerationPrompt: true });
  note(`1. chat template → "${visible(templated)}"`);
  const before = calls.length;
  const reply = await post(`${stack.url}/v1/chat/completions`, request);
  const engineRequest = calls[before] as { promptTokenIds: number[] };
  note(
    `2. tokenizer → ${engineRequest.promptTokenIds.length} token ids [${engineRequest.promptTokenIds.slice(0, 12).join(', ')}, …]`,
  );
  note(
    `3. crossed the request plane: generate ${shorten(
      JSON.stringify({ ...engineRequest, promptTokenIds: `[${engineRequest.promptTokenIds.length} ids]` }),
      400,
    )}`,
  );
  const body = JSON.parse(reply.text) as {
    choices: { message: { content: string }; finish_reason: string }[];
    usage: unknown;
  };
  note(
    `4. reply ${reply.status} in ${formatMs(reply.ms)}: "${visible(body.choices[0]!.message.content)}" ` +
      `finish_reason=${body.choices[0]!.finish_reason} usage=${JSON.stringify(body.usage)}`,
  );
}

async function rawStream(url: string): Promise<void> {
  const body = JSON.stringify({
    messages: MESSAGES,
    max_tokens: MAX_TOKENS,
    temperature: 0,
    stream: true,
    stream_options: { include_usage: true },
  });
  note(
    `$ curl -N --raw ${url}/v1/chat/completions -H 'content-type: application/json' -d '{"messages":…,"stream":true,"stream_options":{"include_usage":true}}'`,
  );
  const res = await rawRequest(url, 'POST', '/v1/chat/completions', body);
  const head = res.reads[0]!.bytes.toString('latin1');
  for (const line of head.slice(0, head.indexOf('\r\n\r\n')).split('\r\n')) note(`  < ${line}`);
  const shown = isSmoke() ? 4 : 8;
  res.reads.slice(0, shown).forEach((read, i) => {
    note(
      `  TCP read #${i + 1} at +${read.atMs.toFixed(2)} ms, ${read.bytes.length} bytes: "${shorten(visible(read.bytes.toString('utf8')), 150)}"`,
    );
  });
  if (res.reads.length > shown) note(`  … ${res.reads.length - shown} more reads`);
  const events = sseEvents(res.body);
  note(`  last event: data: ${events.at(-1)}`);
  const parsed = events.slice(0, -1).map(
    (e) =>
      JSON.parse(e) as {
        choices: { delta: { role?: string; content?: string }; finish_reason: string | null }[];
        usage?: unknown;
      },
  );
  const role = parsed.filter((e) => e.choices[0]?.delta.role !== undefined).length;
  const content = parsed.filter(
    (e) => e.choices[0]?.delta.content && e.choices[0].delta.role === undefined,
  ).length;
  const finish = parsed.filter((e) => e.choices[0]?.finish_reason).length;
  const usage = parsed.filter((e) => e.usage && e.choices.length === 0).length;
  note(
    `SSE events: ${events.length} (${role} role, ${content} content, ${finish} finish, ${usage} usage, [DONE]) in ` +
      `${res.chunks.length} HTTP chunks over ${res.reads.length} TCP reads`,
  );
  const firstContent = res.chunks.find((c) => c.text.includes('"content":"') && !c.text.includes('"role"'));
  note(
    `first content chunk (TTFT as the client sees it) at +${firstContent?.atMs.toFixed(2)} ms, last at ` +
      `+${res.chunks.at(-1)?.atMs.toFixed(2)} ms`,
  );
}

async function errorShapes(url: string, model: string): Promise<void> {
  const chat = (extra: Record<string, unknown>) => ({ messages: MESSAGES, max_tokens: 4, ...extra });
  const cases: [string, () => Promise<HttpReply>][] = [
    ['body is not JSON', () => post(`${url}/v1/chat/completions`, '{"messages": [')],
    ['messages is not a list', () => post(`${url}/v1/chat/completions`, { messages: 'hi' })],
    ['temperature is a string', () => post(`${url}/v1/chat/completions`, chat({ temperature: 'hot' }))],
    [
      'prompt longer than the context',
      () => post(`${url}/v1/completions`, { prompt: 'tell me '.repeat(1500), max_tokens: 4 }),
    ],
    ['unknown model', () => post(`${url}/v1/chat/completions`, chat({ model: 'gpt-9' }))],
    ['unknown route', () => http(`${url}/v1/embeddings`)],
    ['wrong method', () => http(`${url}/v1/chat/completions`)],
    [
      'body over 64 KiB',
      () => post(`${url}/v1/completions`, { prompt: 'x'.repeat(MAX_BODY_BYTES + 1024), model }),
    ],
  ];
  const rows: (string | number)[][] = [];
  for (const [what, send] of cases) {
    const reply = await send();
    const error = (
      JSON.parse(reply.text) as {
        error: { message: string; type: string; code: string | null; param: string | null };
      }
    ).error;
    rows.push([
      what,
      reply.status,
      error.type,
      error.code ?? '-',
      error.param ?? '-',
      shorten(error.message, 70),
    ]);
  }
  printTable(['request', 'status', 'type', 'code', 'param', 'message'], rows);
}

async function followOneRequest(url: string, logs: LogCapture): Promise<void> {
  const requestId = `lab-2-4-trace-${process.pid}`;
  const from = logs.mark();
  const reply = await post(
    `${url}/v1/chat/completions`,
    { messages: MESSAGES, max_tokens: 4 },
    { 'x-request-id': requestId },
  );
  note(
    `x-request-id: ${requestId} → response header x-request-id: ${reply.headers.get('x-request-id')}, body id "${(JSON.parse(reply.text) as { id: string }).id}"`,
  );
  note(`$ grep ${requestId} <logs>`);
  for (const line of logs.grep(requestId, from)) note(`  ${shorten(line, 230)}`);
}

async function clientHangsUp(url: string): Promise<void> {
  const cancelled = async () =>
    ((await (await fetch(`${url}/health`)).json()) as { requests: { cancelled: number } }).requests.cancelled;
  const before = await cancelled();
  const abort = new AbortController();
  const res = await fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ messages: MESSAGES, max_tokens: 400, ignore_eos: true, stream: true }),
    signal: abort.signal,
  });
  const reader = res.body!.getReader();
  let chunks = 0;
  while (chunks < 3) {
    const { done } = await reader.read();
    if (done) break;
    chunks++;
  }
  abort.abort();
  await reader.cancel().catch(() => {});
  const deadline = Date.now() + 3000;
  let after = await cancelled();
  while (after === before && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 20));
    after = await cancelled();
  }
  note(
    `client hung up after ${chunks} chunks: /health requests.cancelled ${before} → ${after} (the engine request was aborted too)`,
  );
}

async function metrics(url: string): Promise<void> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const wanted =
    /^dynamo_frontend_(requests_total|inflight_requests|time_to_first_token_seconds_(sum|count)|request_duration_seconds_(sum|count)|output_sequence_tokens_sum)\b/;
  note('$ curl -s localhost:PORT/metrics | grep ^dynamo_frontend');
  for (const line of text.split('\n').filter((l) => wanted.test(l))) note(`  ${line}`);
  const value = (name: string) =>
    text
      .split('\n')
      .filter((l) => l.startsWith(name))
      .reduce((sum, l) => sum + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
  const ttft =
    value('dynamo_frontend_time_to_first_token_seconds_sum') /
    value('dynamo_frontend_time_to_first_token_seconds_count');
  note(`mean TTFT from the histogram: _sum / _count = ${formatMs(ttft * 1000)}`);
}

async function main(): Promise<void> {
  banner('2.4', 'The frontend alone: OpenAI HTTP API, SSE, errors, health');
  const logs = new LogCapture('debug');
  const calls: unknown[] = [];

  step('Start an embedded `dhw serve`: one fortune-llama worker + the frontend, all in this process');
  const started = performance.now();
  const stack = await startEmbeddedStack({
    maxBodyBytes: MAX_BODY_BYTES,
    onCall: (endpoint, payload) => endpoint === 'generate' && calls.push(payload),
  });
  try {
    const model = stack.frontend.models.list()[0]!;
    note(`(the same as: dhw serve --port 0 --max-body-bytes ${MAX_BODY_BYTES})`);
    note(`frontend ${stack.url}, model "${model.name}", ready in ${formatMs(performance.now() - started)}`);

    step('Health checks a load balancer would poll: /live (process up), /health (has workers), /v1/models');
    await healthEndpoints(stack.url);

    step('OpenAI API translation: chat messages → template → token ids → engine request → text');
    await translation(stack, model, calls);

    step('Streaming, seen raw: TCP reads → HTTP chunks → SSE events');
    await rawStream(stack.url);

    step('Error shapes: always {"error": {message, type, param, code}}, 4xx for the client\'s mistakes');
    await errorShapes(stack.url, model.name);

    step("One request id, followed through every component's log lines");
    await followOneRequest(stack.url, logs);

    step('A client that hangs up mid-stream');
    await clientHangsUp(stack.url);

    step('Prometheus metrics: GET /metrics');
    await metrics(stack.url);
  } finally {
    await stack.close();
    note('stack stopped');
  }
}

runLab(main, 'Run `npm run lab -- 1.1` to check the model loads, then `npm run lab -- 2.4 --smoke`.');
