/**
 * Frames written in one turn of the event loop leave in one syscall: the first write corks the socket and
 * a setImmediate uncorks it, so everything written until the loop's check phase goes out as one writev.
 * Like Nagle's algorithm without its delay, or TCP_CORK held for one loop turn: with NO_DELAY on, each
 * tiny DATA frame was its own write(2), the largest single item of the request plane's CPU at high request
 * rates.
 *
 * Why a turn and not a tick: in the poll phase every readable socket is its own callback (its own tick).
 * A frontend that reads 10 HTTP requests in one poll phase and flushed per tick wrote 10 REQUEST frames in
 * 10 syscalls, each waking the worker for a step of one request; flushed at the check phase they leave in
 * one writev, and the worker reads them in one wake-up and steps them together. The wait is bounded by the
 * loop turn (no timer): setImmediate runs right after this poll phase, before the loop blocks again.
 */
import type { Socket } from 'node:net';

export class WriteBatcher {
  private corked = false;
  private readonly uncork = () => {
    this.corked = false;
    this.socket.uncork();
  };

  constructor(private readonly socket: Socket) {}

  /** socket.write(frame), batched with the other writes of this loop turn; returns write()'s backpressure flag. */
  write(frame: Buffer): boolean {
    if (!this.corked) {
      this.corked = true;
      this.socket.cork();
      setImmediate(this.uncork);
    }
    return this.socket.write(frame);
  }
}
