/**
 * The step executor of `--engine openai`: each running sequence owns one streamed upstream request,
 * opened at its first sampling step (prompt = every token it has so far, so a preempted sequence resumes
 * where it was) and read one token per step. Prompt chunks compute nothing here: the upstream prefills.
 *
 * Tokens come back as text, tokenized with the model card's tokenizer (byte-level BPE round-trips the
 * text exactly; the token ids may differ from the upstream's at piece boundaries). When the upstream ends
 * a stream before our stop conditions do (its own stop), the sequence gets an end-of-sequence token and
 * finishes as `stop`; when the upstream fails (refused, unreachable, broken mid-stream) the request is
 * aborted, so its caller sees an error (a stream without a finish reason) and the canary fails.
 */
import type { SampleResult, SchedulerOutput, Sequence, StepExecutor } from '../../engine/index.ts';
import type { RequestId } from '../../protocols/ids.ts';
import type { Tokenizer } from '../../tokens/index.ts';
import { getLogger } from '../../util/logger.ts';
import { streamCompletionText, type UpstreamPromptFormat } from './openai-upstream-client.ts';

const log = getLogger('worker');

export interface UpstreamExecutorOptions {
  base: string;
  model: string;
  apiKey?: string;
  promptFormat: UpstreamPromptFormat;
  tokenizer: Tokenizer;
  /** Given to a sequence whose upstream stream ended first (an EOS id of the model). */
  endTokenId: number;
}

/** One upstream request's tokens as they arrive. */
class UpstreamStream {
  private readonly queue: number[] = [];
  private ended = false;
  /** Why the upstream request failed (undefined: it ended normally, or is still going). */
  failure: unknown;
  private wake: (() => void) | undefined;
  readonly controller = new AbortController();

  constructor(
    readonly seq: Sequence,
    pieces: AsyncIterable<string>,
    private readonly tokenizer: Tokenizer,
  ) {
    void this.pump(pieces);
  }

  private async pump(pieces: AsyncIterable<string>): Promise<void> {
    try {
      for await (const text of pieces) {
        this.queue.push(...this.tokenizer.encode(text, { addSpecialTokens: false }));
        this.notify();
      }
    } catch (error) {
      if (!this.controller.signal.aborted) {
        this.failure = error;
        log.warn('upstream request failed', { requestId: this.seq.requestId, error });
      }
    } finally {
      this.ended = true;
      this.notify();
    }
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  /** The next token, or undefined once the stream has ended (or was cancelled) with nothing left. */
  async next(): Promise<number | undefined> {
    while (this.queue.length === 0 && !this.ended) {
      await new Promise<void>((resolve) => {
        this.wake = resolve;
      });
    }
    return this.queue.shift();
  }

  cancel(): void {
    this.controller.abort();
    this.ended = true;
    this.notify();
  }
}

export class UpstreamExecutor implements StepExecutor {
  private readonly streams = new Map<RequestId, UpstreamStream>();

  constructor(
    private readonly opts: UpstreamExecutorOptions,
    /** Aborts a request in the engine (its upstream request failed). */
    private readonly abortRequest: (requestId: RequestId) => void,
  ) {}

  async execute(output: SchedulerOutput): Promise<Array<SampleResult | undefined>> {
    this.closeStopped();
    return Promise.all(
      output.scheduled.map(async ({ seq, sample }) => {
        if (!sample) return undefined;
        const stream = this.streams.get(seq.requestId) ?? this.open(seq);
        const tokenId = await stream.next();
        // Aborted here, the sequence is no longer running: the engine drops this step's token for it.
        if (tokenId === undefined && stream.failure !== undefined) this.abortRequest(seq.requestId);
        return { tokenId: tokenId ?? this.opts.endTokenId };
      }),
    );
  }

  /** Requests with an upstream stream open. */
  get numOpen(): number {
    return this.streams.size;
  }

  /** Abort a request's upstream fetch (the caller went away). */
  cancel(requestId: RequestId): void {
    this.streams.get(requestId)?.cancel();
    this.streams.delete(requestId);
  }

  cancelAll(): void {
    for (const id of [...this.streams.keys()]) this.cancel(id);
  }

  /** Finished and preempted sequences close their upstream request (a preempted one reopens later). */
  private closeStopped(): void {
    for (const [id, stream] of this.streams) if (stream.seq.status !== 'running') this.cancel(id);
  }

  private open(seq: Sequence): UpstreamStream {
    const { temperature, topP, topK, minP, seed } = seq.sampling;
    const prompt =
      this.opts.promptFormat === 'tokens' ? [...seq.tokenIds] : promptText(this.opts.tokenizer, seq.tokenIds);
    const body: Record<string, unknown> = {
      model: this.opts.model,
      prompt,
      max_tokens: seq.stopping.maxTokens - seq.numOutputTokens,
      temperature,
      top_p: topP,
      ...(topK > 0 ? { top_k: topK } : {}),
      ...(minP > 0 ? { min_p: minP } : {}),
      ...(seed === undefined ? {} : { seed }),
      ...(seq.stopping.ignoreEos ? { ignore_eos: true } : {}),
    };
    const controller = new AbortController();
    const stream = new UpstreamStream(
      seq,
      streamCompletionText(this.opts.base, body, controller.signal, this.opts.apiKey),
      this.opts.tokenizer,
    );
    stream.controller.signal.addEventListener('abort', () => controller.abort(), { once: true });
    this.streams.set(seq.requestId, stream);
    return stream;
  }
}

/**
 * A prompt's ids as text for an upstream that only takes text: special tokens stay (a chat template's
 * markers are text the upstream's tokenizer maps back to them), except a leading BOS, which the upstream's
 * tokenizer adds again.
 */
export function promptText(tokenizer: Tokenizer, tokenIds: readonly number[]): string {
  const bos = tokenizer.bosTokenId;
  const ids = bos !== undefined && tokenIds[0] === bos ? tokenIds.slice(1) : tokenIds;
  return tokenizer.decode(ids, { skipSpecialTokens: false });
}
