/**
 * A streamed completion timed the way a client sees it: request sent → each SSE chunk that carries a token.
 * TTFT is the first such arrival, the inter-token latencies (ITL) the gaps between the next ones. Like
 * timing a chunked HTTP download with `curl -w` per chunk instead of per transfer: the stalls are visible.
 */
import { performance } from 'node:perf_hooks';
import { sseJsonPerRead } from './sse.ts';

export interface StreamTiming {
  requestId: string;
  status: number;
  promptTokens: number;
  /** Tokens generated (usage.completion_tokens; chunks that decoded to no text are not timed). */
  tokens: number;
  ttftMs: number;
  /** Gap before each text chunk after the first, ms (one per token, unless a token decoded to no text). */
  itlMs: number[];
  e2eMs: number;
  /** usage.prompt_tokens_details.cached_tokens: prompt tokens the serving engine did not compute. */
  cachedTokens: number;
  text: string;
}

export interface CompletionRequest {
  requestId: string;
  /** Token ids (the bundled tokenizer's), so prompt lengths are exact. */
  prompt: number[];
  maxTokens: number;
  /** Greedy by default, so runs are comparable. */
  temperature?: number;
}

type Chunk = {
  choices: { text?: string }[];
  usage?: { completion_tokens?: number; prompt_tokens_details?: { cached_tokens?: number } };
};

/** POST /v1/completions with stream: true; resolves when the stream ends. */
export async function timedCompletion(url: string, req: CompletionRequest): Promise<StreamTiming> {
  const sent = performance.now();
  const res = await fetch(`${url}/v1/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-request-id': req.requestId },
    body: JSON.stringify({
      prompt: req.prompt,
      max_tokens: req.maxTokens,
      temperature: req.temperature ?? 0,
      ignore_eos: true,
      stream: true,
      stream_options: { include_usage: true },
    }),
  });
  const arrivals: number[] = [];
  let cachedTokens = 0;
  let completionTokens: number | undefined;
  let text = '';
  if (res.status === 200) {
    for await (const chunks of sseJsonPerRead<Chunk>(res.body)) {
      const now = performance.now();
      for (const data of chunks) {
        // A chunk with text carries tokens; the last one ('' + finish_reason) and the usage chunk do not.
        const piece = data.choices[0]?.text ?? '';
        if (piece !== '') {
          arrivals.push(now - sent);
          text += piece;
        }
        if (data.usage) {
          cachedTokens = data.usage.prompt_tokens_details?.cached_tokens ?? 0;
          completionTokens = data.usage.completion_tokens;
        }
      }
    }
  } else {
    text = await res.text();
  }
  return {
    requestId: req.requestId,
    status: res.status,
    promptTokens: req.prompt.length,
    tokens: completionTokens ?? arrivals.length,
    ttftMs: arrivals[0] ?? Number.NaN,
    itlMs: arrivals.slice(1).map((t, i) => t - (arrivals[i] as number)),
    e2eMs: performance.now() - sent,
    cachedTokens,
    text,
  };
}

/** `n` token ids from a seeded stream: distinct prompts that share no prefix with each other. */
export function distinctPrompt(seed: number, n: number): number[] {
  let x = (seed * 2654435761) >>> 0 || 1;
  return Array.from({ length: n }, () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return 100 + ((x >>> 0) % 1800);
  });
}
