/**
 * Reading an OpenAI-style SSE response body in a lab, like `curl -N` piped through a line reader: the JSON
 * `data:` payloads, grouped by network read, so a caller can act between reads (time an arrival, kill a
 * worker mid-stream). `data: [DONE]` and non-JSON events are skipped.
 */

/** The JSON payloads of `body`'s SSE events, one array per network read. */
export async function* sseJsonPerRead<T>(body: ReadableStream<Uint8Array> | null): AsyncGenerator<T[]> {
  if (!body) return;
  let buffer = '';
  const decoder = new TextDecoder();
  for await (const chunk of body as unknown as AsyncIterable<Uint8Array>) {
    buffer += decoder.decode(chunk, { stream: true });
    const events = buffer.split('\n\n');
    buffer = events.pop() ?? '';
    yield events
      .filter((event) => event.startsWith('data: {'))
      .map((event) => JSON.parse(event.slice(6)) as T);
  }
}
