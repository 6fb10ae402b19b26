/**
 * A one-consumer async queue: the engine loop pushes a request's outputs, the caller's `for await` pulls
 * them. Like a socket's receive buffer: the producer never blocks, the reader waits when it is empty, and
 * `end()` / `fail()` are the FIN and RST.
 */
export class RequestStream<T> implements AsyncIterable<T> {
  private readonly buffered: T[] = [];
  private waiter: { resolve: (r: IteratorResult<T>) => void; reject: (e: unknown) => void } | null = null;
  private ended = false;
  private error: unknown = null;

  push(item: T): void {
    if (this.ended) return;
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = null;
      w.resolve({ value: item, done: false });
    } else {
      this.buffered.push(item);
    }
  }

  /** No more items: the reader drains what is buffered, then its loop ends. */
  end(): void {
    if (this.ended) return;
    this.ended = true;
    if (this.waiter && this.buffered.length === 0) {
      const w = this.waiter;
      this.waiter = null;
      w.resolve({ value: undefined, done: true });
    }
  }

  /** The reader's next pull (after what is buffered) throws `error`. */
  fail(error: unknown): void {
    if (this.ended) return;
    this.error = error;
    this.ended = true; // not end(): that would answer a waiting reader "done" instead of the error
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = null;
      w.reject(error);
    }
  }

  next(): Promise<IteratorResult<T>> {
    if (this.buffered.length > 0) return Promise.resolve({ value: this.buffered.shift()!, done: false });
    if (this.error !== null) return Promise.reject(this.error);
    if (this.ended) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve, reject) => {
      this.waiter = { resolve, reject };
    });
  }

  [Symbol.asyncIterator](): AsyncIterator<T> {
    return { next: () => this.next() };
  }
}
