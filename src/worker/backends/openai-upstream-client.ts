/**
 * The HTTP side of `--engine openai`: what the worker asks an OpenAI-compatible server (vLLM, SGLang,
 * llama.cpp's server, another `dhw frontend`) and how it reads the answer — `/v1/models` for the name and
 * context length, a one-token probe to learn whether `/v1/completions` takes `prompt` as token ids, and a
 * streamed completion read as server-sent events.
 *
 * Like a reverse proxy's upstream module: health checks, one connection per request, abort on client
 * disconnect.
 */
import { DhwError } from '../../util/errors.ts';

export type UpstreamPromptFormat = 'tokens' | 'text';

export interface UpstreamModel {
  id: string;
  /** vLLM's and our frontend's `max_model_len` (absent on servers that do not say). */
  maxModelLen?: number;
}

/** `http://host:8000` or `http://host:8000/v1` → the `/v1` base every path hangs off. */
export function upstreamBase(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new DhwError(`--upstream must be a URL like http://127.0.0.1:8000, got ${JSON.stringify(url)}`);
  }
  const path = parsed.pathname.replace(/\/+$/, '');
  return `${parsed.origin}${path.endsWith('/v1') ? path : `${path}/v1`}`;
}

/** The upstream's models; a clear error (naming the URL) when it cannot be reached. */
export async function listUpstreamModels(base: string, apiKey?: string): Promise<UpstreamModel[]> {
  let response: Response;
  try {
    response = await fetch(`${base}/models`, {
      headers: headers(apiKey),
      signal: AbortSignal.timeout(10_000),
    });
  } catch (cause) {
    throw new DhwError(
      `cannot reach the upstream at ${base}/models (${(cause as Error).message}): is the server up?`,
      {
        cause,
      },
    );
  }
  if (!response.ok) throw new DhwError(`the upstream answered ${response.status} on ${base}/models`);
  const body = (await response.json()) as { data?: Array<{ id?: unknown; max_model_len?: unknown }> };
  return (body.data ?? [])
    .filter((m): m is { id: string; max_model_len?: unknown } => typeof m.id === 'string')
    .map((m) => ({
      id: m.id,
      ...(typeof m.max_model_len === 'number' ? { maxModelLen: m.max_model_len } : {}),
    }));
}

/**
 * Does `/v1/completions` accept `prompt` as a list of token ids (vLLM, our frontend, llama.cpp's server)?
 * One request for one token tells; anything but a 2xx means text.
 */
export async function probePromptFormat(
  base: string,
  model: string,
  tokenIds: number[],
  apiKey?: string,
): Promise<UpstreamPromptFormat> {
  try {
    const response = await fetch(`${base}/completions`, {
      method: 'POST',
      headers: headers(apiKey),
      body: JSON.stringify({ model, prompt: tokenIds, max_tokens: 1, temperature: 0 }),
      signal: AbortSignal.timeout(30_000),
    });
    await response.body?.cancel();
    return response.ok ? 'tokens' : 'text';
  } catch {
    return 'text';
  }
}

/** A streamed completion's text pieces, in order; ends with the stream. Throws on a non-2xx answer. */
export async function* streamCompletionText(
  base: string,
  body: Record<string, unknown>,
  signal: AbortSignal,
  apiKey?: string,
): AsyncGenerator<string> {
  const response = await fetch(`${base}/completions`, {
    method: 'POST',
    headers: headers(apiKey),
    body: JSON.stringify({ ...body, stream: true }),
    signal,
  });
  if (!response.ok || response.body === null) {
    const text = await response.text().catch(() => '');
    throw new DhwError(`the upstream answered ${response.status}: ${text.slice(0, 300)}`);
  }
  const decoder = new TextDecoder();
  let buffer = '';
  for await (const chunk of response.body) {
    buffer += decoder.decode(chunk as Uint8Array, { stream: true });
    let cut = buffer.indexOf('\n\n');
    while (cut >= 0) {
      const text = eventText(buffer.slice(0, cut));
      buffer = buffer.slice(cut + 2);
      if (text === null) return;
      if (text !== '') yield text;
      cut = buffer.indexOf('\n\n');
    }
  }
}

/** One SSE event's completion text ('' for none), or null for `[DONE]`. */
function eventText(event: string): string | null {
  const data = event
    .split('\n')
    .filter((line) => line.startsWith('data:'))
    .map((line) => line.slice(5).trimStart())
    .join('\n');
  if (data === '') return '';
  if (data === '[DONE]') return null;
  const parsed = JSON.parse(data) as { choices?: Array<{ text?: unknown }>; error?: { message?: string } };
  if (parsed.error)
    throw new DhwError(`the upstream failed mid-stream: ${parsed.error.message ?? 'unknown error'}`);
  const text = parsed.choices?.[0]?.text;
  return typeof text === 'string' ? text : '';
}

function headers(apiKey: string | undefined): Record<string, string> {
  return {
    'content-type': 'application/json',
    ...(apiKey === undefined ? {} : { authorization: `Bearer ${apiKey}` }),
  };
}
