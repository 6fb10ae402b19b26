/**
 * One streamed OpenAI request, timed from the client: POST to `/v1/completions` or `/v1/chat/completions`
 * with `stream: true` and `stream_options.include_usage`, read the Server-Sent Events as they arrive and
 * stamp every chunk that carries text. Works against any OpenAI-compatible server (ours, vLLM, SGLang,
 * llama.cpp's server), like `curl -N` with a stopwatch on each line.
 *
 * Connections are pooled with keep-alive (`node:http` Agent, one socket per in-flight request), so a run
 * measures the server, not TCP handshakes. The SSE parser is a small line splitter: each `data:` line
 * holds one JSON chunk; `data: [DONE]` ends the stream.
 */
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { performance } from 'node:perf_hooks';
import type { RequestResult } from './bench-metrics.ts';

export type BenchApi = 'completions' | 'chat';

/** What to send: the prompt and how long the answer may be. */
export interface BenchPrompt {
  prompt: string;
  /** max_tokens for this request. */
  outputTokens: number;
  /** The prompt source's estimate of the prompt's length, used when the server sends no usage. */
  estimatedInputTokens: number;
}

export interface StreamClientOptions {
  /** Base URL ending in /v1 (e.g. http://127.0.0.1:8000/v1). */
  baseUrl: string;
  model: string;
  api: BenchApi;
  apiKey?: string;
  /** Extra body fields merged into every request (temperature, ignore_eos, ...). */
  extraBody?: Record<string, unknown>;
  /** Give up on one request after this long (ms). */
  requestTimeoutMs?: number;
}

interface ChunkJson {
  choices?: Array<{ text?: string; delta?: { content?: string | null; reasoning_content?: string | null } }>;
  usage?: {
    prompt_tokens?: number;
    completion_tokens?: number;
    prompt_tokens_details?: { cached_tokens?: number } | null;
  } | null;
  error?: { message?: string; type?: string } | string;
}

export class OpenAiStreamClient {
  private readonly url: URL;
  private readonly agent: HttpAgent;
  private readonly send: typeof httpRequest;
  private readonly path: string;
  private readonly headers: Record<string, string>;

  constructor(private readonly options: StreamClientOptions) {
    this.url = new URL(options.baseUrl.replace(/\/+$/, ''));
    if (this.url.protocol !== 'http:' && this.url.protocol !== 'https:') {
      throw new Error(`--url must be http:// or https://, got ${options.baseUrl}`);
    }
    const secure = this.url.protocol === 'https:';
    // No socket cap in the agent: the run's own concurrency limit bounds requests, and a capped pool would
    // queue a request whose predecessor's socket is not yet released, inflating its TTFT with client time.
    const agentOptions = { keepAlive: true, maxSockets: Number.POSITIVE_INFINITY, maxFreeSockets: 1024 };
    this.agent = secure ? new HttpsAgent(agentOptions) : new HttpAgent(agentOptions);
    this.send = secure ? (httpsRequest as typeof httpRequest) : httpRequest;
    this.path = `${this.url.pathname}/${options.api === 'chat' ? 'chat/completions' : 'completions'}`;
    this.headers = { 'content-type': 'application/json', accept: 'text/event-stream' };
    if (options.apiKey) this.headers.authorization = `Bearer ${options.apiKey}`;
  }

  /** The JSON body for one prompt (exported shape for tests and `--dry-run` style inspection). */
  body(p: BenchPrompt): Record<string, unknown> {
    const common = {
      model: this.options.model,
      max_tokens: p.outputTokens,
      stream: true,
      stream_options: { include_usage: true },
      ...this.options.extraBody,
    };
    return this.options.api === 'chat'
      ? { ...common, messages: [{ role: 'user', content: p.prompt }] }
      : { ...common, prompt: p.prompt };
  }

  /** Send one request and time it; never throws (a failure is a result with `error`). */
  run(p: BenchPrompt): Promise<RequestResult> {
    const payload = JSON.stringify(this.body(p));
    const result: RequestResult = {
      sentAt: performance.now(),
      chunkTimes: [],
      endedAt: 0,
      outputTokens: 0,
      inputTokens: p.estimatedInputTokens,
      cachedTokens: 0,
    };
    return new Promise((resolve) => {
      let settled = false;
      const finish = (error?: string): void => {
        if (settled) return;
        settled = true;
        result.endedAt = performance.now();
        if (error !== undefined) result.error = error;
        resolve(result);
      };
      const req = this.send(
        {
          host: this.url.hostname,
          port: this.url.port || (this.url.protocol === 'https:' ? 443 : 80),
          path: this.path,
          method: 'POST',
          agent: this.agent,
          headers: { ...this.headers, 'content-length': Buffer.byteLength(payload) },
          timeout: this.options.requestTimeoutMs,
        },
        (res) => this.readResponse(res, result, finish),
      );
      req.on('timeout', () => {
        req.destroy();
        finish('timeout');
      });
      req.on('error', (err: NodeJS.ErrnoException) => finish(err.code ?? err.message));
      result.sentAt = performance.now();
      req.end(payload);
    });
  }

  private readResponse(res: IncomingMessage, result: RequestResult, finish: (error?: string) => void): void {
    res.setEncoding('utf8');
    if (res.statusCode !== 200) {
      let text = '';
      res.on('data', (s: string) => {
        if (text.length < 2000) text += s;
      });
      res.on('end', () => finish(`HTTP ${res.statusCode}: ${errorMessage(text)}`));
      res.on('error', (err) => finish(err.message));
      return;
    }
    let pending = '';
    let sawText = 0;
    let failure: string | undefined;
    let done = false;
    const onLine = (line: string): void => {
      if (!line.startsWith('data:')) return;
      const data = line.slice(5).trim();
      if (data === '[DONE]') {
        done = true;
        return;
      }
      let chunk: ChunkJson;
      try {
        chunk = JSON.parse(data) as ChunkJson;
      } catch {
        failure = 'malformed SSE chunk';
        return;
      }
      if (chunk.error !== undefined) {
        failure = `stream error: ${typeof chunk.error === 'string' ? chunk.error : (chunk.error.message ?? 'unknown')}`;
        return;
      }
      const choice = chunk.choices?.[0];
      const text = choice?.text ?? choice?.delta?.content ?? choice?.delta?.reasoning_content;
      if (text) {
        result.chunkTimes.push(performance.now());
        sawText++;
      }
      const usage = chunk.usage;
      if (usage) {
        if (typeof usage.completion_tokens === 'number') result.outputTokens = usage.completion_tokens;
        if (typeof usage.prompt_tokens === 'number') result.inputTokens = usage.prompt_tokens;
        result.cachedTokens = usage.prompt_tokens_details?.cached_tokens ?? 0;
      }
    };
    res.on('data', (s: string) => {
      pending += s;
      let nl = pending.indexOf('\n');
      while (nl >= 0) {
        onLine(pending.slice(0, nl));
        pending = pending.slice(nl + 1);
        nl = pending.indexOf('\n');
      }
    });
    res.on('end', () => {
      if (pending) onLine(pending);
      if (result.outputTokens === 0) result.outputTokens = sawText;
      if (failure === undefined && !done) failure = 'stream ended without [DONE]';
      finish(failure);
    });
    res.on('error', (err) => finish(err.message));
    res.on('aborted', () => finish('connection reset mid-stream'));
  }

  close(): void {
    this.agent.destroy();
  }
}

/** The `error.message` of an OpenAI-shaped error body, else the body's start. */
function errorMessage(body: string): string {
  try {
    const parsed = JSON.parse(body) as { error?: { message?: string } | string };
    const e = parsed.error;
    if (typeof e === 'string') return e.slice(0, 120);
    if (e?.message) return e.message.slice(0, 120);
  } catch {
    // not JSON: fall through
  }
  return body.slice(0, 120) || '(empty body)';
}
