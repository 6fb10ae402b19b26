/**
 * The workload that makes routing matter: G "documents" (long shared prefixes, like a system prompt plus a
 * RAG context or a long chat history), each asked R different questions (short unique suffixes), arriving
 * in a shuffled order with C requests in flight. A request is fast when its worker already holds the prefix
 * in its KV cache (only the suffix is prefilled) and slow when it must prefill the whole prompt. Like a
 * sharded cache behind a load balancer: the hit rate depends on which backend each key lands on.
 *
 * Requests go through the frontend's OpenAI API (`/v1/completions`, prompt as token ids, streamed), and
 * TTFT is measured the way a client sees it: request sent → first SSE chunk with a token.
 */
import { performance } from 'node:perf_hooks';
import { createRng } from '../../../src/util/prng.ts';
import { sseJsonPerRead } from '../../lib/sse.ts';

export interface WorkloadShape {
  groups: number;
  requestsPerGroup: number;
  prefixTokens: number;
  suffixTokens: number;
  maxTokens: number;
  concurrency: number;
}

export interface WorkloadRequest {
  group: number;
  prompt: number[];
}

export interface RequestResult {
  group: number;
  requestId: string;
  ttftMs: number;
  e2eMs: number;
  promptTokens: number;
  cachedTokens: number;
}

/** Distinct prefixes per `seed` (so each policy's run starts with cold caches), in a seeded random order. */
export function buildWorkload(shape: WorkloadShape, seed: number): WorkloadRequest[] {
  const rng = createRng(seed, 'mulberry32');
  const token = () => 100 + Math.floor(rng.nextFloat() * 1800);
  const prefixes = Array.from({ length: shape.groups }, () =>
    Array.from({ length: shape.prefixTokens }, token),
  );
  const requests: WorkloadRequest[] = [];
  for (let g = 0; g < shape.groups; g++) {
    for (let r = 0; r < shape.requestsPerGroup; r++) {
      requests.push({
        group: g,
        prompt: [...prefixes[g]!, ...Array.from({ length: shape.suffixTokens }, token)],
      });
    }
  }
  for (let i = requests.length - 1; i > 0; i--) {
    const j = Math.floor(rng.nextFloat() * (i + 1));
    [requests[i], requests[j]] = [requests[j]!, requests[i]!];
  }
  return requests;
}

/** One streamed completion; resolves with client-side TTFT, E2E and the usage's cached tokens. */
export async function streamCompletion(
  url: string,
  requestId: string,
  prompt: number[],
  maxTokens: number,
): Promise<RequestResult & { status: number }> {
  const sent = performance.now();
  const res = await fetch(`${url}/v1/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-request-id': requestId },
    body: JSON.stringify({
      prompt,
      max_tokens: maxTokens,
      ignore_eos: true,
      stream: true,
      stream_options: { include_usage: true },
    }),
  });
  let ttftMs = Number.NaN;
  let cachedTokens = 0;
  type Chunk = { choices: unknown[]; usage?: { prompt_tokens_details?: { cached_tokens?: number } } };
  for await (const chunks of sseJsonPerRead<Chunk>(res.body)) {
    for (const data of chunks) {
      if (data.choices.length > 0 && Number.isNaN(ttftMs)) ttftMs = performance.now() - sent;
      if (data.usage) cachedTokens = data.usage.prompt_tokens_details?.cached_tokens ?? 0;
    }
  }
  return {
    status: res.status,
    group: -1,
    requestId,
    ttftMs,
    e2eMs: performance.now() - sent,
    promptTokens: prompt.length,
    cachedTokens,
  };
}

/** Run the whole workload with `concurrency` requests in flight (a closed loop, like `wrk -c`). */
export async function runWorkload(
  url: string,
  requests: readonly WorkloadRequest[],
  shape: WorkloadShape,
  idPrefix: string,
): Promise<RequestResult[]> {
  const results: RequestResult[] = [];
  let next = 0;
  const client = async () => {
    while (next < requests.length) {
      const index = next++;
      const { group, prompt } = requests[index]!;
      const result = await streamCompletion(url, `${idPrefix}-${index}`, prompt, shape.maxTokens);
      if (result.status !== 200)
        throw new Error(`request ${idPrefix}-${index} failed with HTTP ${result.status}`);
      results.push({ ...result, group });
    }
  };
  await Promise.all(Array.from({ length: shape.concurrency }, client));
  return results;
}
