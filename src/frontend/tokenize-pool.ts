/**
 * Tokenizer threads: long prompts are encoded on worker threads so the event loop keeps serving everyone
 * else (tokenizing runs at ~0.5 MB/s here: a 1 MB prompt is 2 s of CPU that would otherwise stall every
 * stream of this frontend). Like a web server handing CPU-heavy work (TLS handshakes, compression) to a
 * thread pool while its event loop keeps answering.
 *
 * Threads start on first use, hold each model's tokenizer once (its files travel with that model's first
 * job), and are unref'd: an idle pool never keeps the process alive. A job goes to the thread with the
 * fewest jobs pending. The ids are exactly what `Tokenizer.encode` gives on the main thread.
 */
import { Worker } from 'node:worker_threads';
import type { Tokenizer } from '../tokens/index.ts';
import { DhwError } from '../util/errors.ts';
import type { TokenizeJob, TokenizeReply } from './tokenize-thread.ts';

/** Default tokenizer threads: one, beside the event loop's own core. */
export const DEFAULT_TOKENIZER_THREADS = 1;

export class TokenizeThreadError extends DhwError {}

function threadEntry(): URL {
  return import.meta.url.endsWith('.ts')
    ? new URL('./tokenize-thread-bootstrap.mjs', import.meta.url)
    : new URL('./tokenize-thread.js', import.meta.url);
}

interface Pending {
  resolve(ids: number[]): void;
  reject(err: Error): void;
}

class TokenizeThread {
  readonly pending = new Map<number, Pending>();
  readonly keys = new Set<number>();
  private readonly worker: Worker;
  private failure: Error | undefined;

  constructor() {
    this.worker = new Worker(threadEntry(), { execArgv: [] });
    this.worker.unref();
    this.worker.on('message', (reply: TokenizeReply | 'ready') => {
      if (reply === 'ready') return;
      const job = this.pending.get(reply.id);
      if (!job) return;
      this.pending.delete(reply.id);
      if ('error' in reply) job.reject(new TokenizeThreadError(`tokenizer thread: ${reply.error}`));
      else job.resolve(Array.from(reply.ids));
    });
    const fail = (err: Error): void => {
      this.failure = err;
      for (const job of this.pending.values()) job.reject(err);
      this.pending.clear();
    };
    this.worker.on('error', (err) =>
      fail(new TokenizeThreadError(`tokenizer thread failed: ${err.message}`)),
    );
    this.worker.on('exit', (code) => fail(new TokenizeThreadError(`tokenizer thread exited (code ${code})`)));
  }

  get usable(): boolean {
    return this.failure === undefined;
  }

  send(job: TokenizeJob, pending: Pending): void {
    this.pending.set(job.id, pending);
    this.keys.add(job.key);
    this.worker.postMessage(job);
  }

  terminate(): Promise<number> {
    return this.worker.terminate();
  }
}

export class TokenizePool {
  private readonly threads: TokenizeThread[] = [];
  private readonly keys = new WeakMap<Tokenizer, number>();
  private nextKey = 1;
  private nextJob = 1;

  constructor(readonly size: number = DEFAULT_TOKENIZER_THREADS) {}

  /** `tokenizer.encode(text, {addSpecialTokens})`, computed on a tokenizer thread. */
  encode(tokenizer: Tokenizer, text: string, addSpecialTokens: boolean): Promise<number[]> {
    const thread = this.pickThread();
    let key = this.keys.get(tokenizer);
    if (key === undefined) {
      key = this.nextKey++;
      this.keys.set(tokenizer, key);
    }
    const job: TokenizeJob = { id: this.nextJob++, key, text, addSpecialTokens };
    if (!thread.keys.has(key)) job.files = tokenizer.files;
    return new Promise((resolve, reject) => thread.send(job, { resolve, reject }));
  }

  async close(): Promise<void> {
    await Promise.all(this.threads.splice(0).map((t) => t.terminate()));
  }

  /** The least busy thread; a new one while fewer than `size` run; a dead one is replaced. */
  private pickThread(): TokenizeThread {
    for (let i = this.threads.length - 1; i >= 0; i--) {
      if (!this.threads[i].usable) this.threads.splice(i, 1);
    }
    const idle = this.threads.find((t) => t.pending.size === 0);
    if (idle) return idle;
    if (this.threads.length < this.size) {
      const thread = new TokenizeThread();
      this.threads.push(thread);
      return thread;
    }
    return this.threads.reduce((a, b) => (b.pending.size < a.pending.size ? b : a));
  }
}
