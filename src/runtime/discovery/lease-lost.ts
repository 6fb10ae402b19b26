/**
 * A one-shot "lease lost" signal shared by the backends: fires its callbacks once, remembers the error for
 * callbacks registered later, and keeps one bad callback from silencing the others.
 */
import { getLogger } from '../../util/logger.ts';
import { LeaseLostError } from './errors.ts';

const log = getLogger('discovery');

export class LeaseLostSignal {
  private readonly callbacks: ((err: Error) => void)[] = [];
  private error: LeaseLostError | undefined;

  get lost(): LeaseLostError | undefined {
    return this.error;
  }

  onLost(cb: (err: Error) => void): void {
    if (this.error) {
      const err = this.error;
      queueMicrotask(() => this.invoke(cb, err));
      return;
    }
    this.callbacks.push(cb);
  }

  /** Mark the lease lost (first call wins) and notify every callback. */
  fire(message: string, cause?: unknown): void {
    if (this.error) return;
    const err = new LeaseLostError(message, { cause });
    this.error = err;
    log.error('discovery lease lost', { reason: message });
    for (const cb of this.callbacks.splice(0)) this.invoke(cb, err);
  }

  /** Throws the LeaseLostError if the lease is gone (guard for `put`). */
  throwIfLost(): void {
    if (this.error) throw this.error;
  }

  private invoke(cb: (err: Error) => void, err: Error): void {
    try {
      cb(err);
    } catch (cbErr) {
      log.error('onLeaseLost callback threw', { error: cbErr });
    }
  }
}
