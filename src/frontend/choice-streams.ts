/**
 * `n > 1`: several text streams of one request, merged into one stream of `{index, event}` as their events
 * arrive, like a proxy multiplexing upstream responses onto one downstream connection. Pull-based: each
 * stream is asked for its next event only after its last one was taken, so a slow client slows every
 * choice (backpressure reaches the engines) instead of buffering them.
 *
 * **Prefill once, then fork.** Choice 0 starts alone; the others start when it has produced its first
 * event, i.e. when its prompt has been prefilled and its full KV blocks are in the worker's prefix cache.
 * Their prompts are then prefix hits (vLLM's parallel sampling shares the blocks the same way): with KV
 * routing they go to the worker that holds those blocks (the router predicts choice 0's blocks there), and
 * each recomputes only the prompt's last, partial block.
 */
import type { TextStreamEvent } from './text-stream.ts';

export interface ChoiceEvent {
  index: number;
  event: TextStreamEvent;
}

type Step = { index: number; result?: IteratorResult<TextStreamEvent>; error?: unknown };

/**
 * `start(i)` opens choice i's stream; choice 0 at once, the others after choice 0's first event. `stop`
 * is aborted when the merge ends early (a choice failed, the caller stopped reading): it must be part of
 * every stream's signal, so the other choices' engine sequences end too.
 */
export async function* mergeChoiceStreams(
  n: number,
  start: (index: number) => AsyncGenerator<TextStreamEvent>,
  stop: AbortController,
): AsyncGenerator<ChoiceEvent> {
  if (n === 1) {
    // One choice (nearly every request): no race to run, so no promise per event beyond the stream's own.
    // Leaving early returns the stream, which ends its engine request (for await calls return()).
    for await (const event of start(0)) yield { index: 0, event };
    return;
  }
  const streams = new Map<number, AsyncGenerator<TextStreamEvent>>();
  const pending = new Map<number, Promise<Step>>();
  const pull = (index: number): void => {
    const stream = streams.get(index) as AsyncGenerator<TextStreamEvent>;
    // Never rejects: a failure becomes a Step, so a stream failing while another is awaited is not lost.
    pending.set(
      index,
      stream.next().then(
        (result) => ({ index, result }),
        (error: unknown) => ({ index, error }),
      ),
    );
  };
  const open = (index: number): void => {
    streams.set(index, start(index));
    pull(index);
  };
  open(0);
  let forked = n === 1;
  try {
    while (pending.size > 0) {
      const step = await Promise.race(pending.values());
      pending.delete(step.index);
      if (step.error !== undefined) throw step.error;
      const result = step.result as IteratorResult<TextStreamEvent>;
      if (!forked) {
        forked = true;
        for (let i = 1; i < n; i++) open(i);
      }
      if (result.done) continue;
      pull(step.index);
      yield { index: step.index, event: result.value };
    }
  } finally {
    // Early exit: abort, then wait for every choice's engine stream to see it and end, so no engine
    // sequence outlives the request.
    if (pending.size > 0) stop.abort();
    await Promise.allSettled([...pending.values()]);
    await Promise.allSettled([...streams.values()].map((s) => s.return(undefined)));
  }
}
