/**
 * Frames written in one turn of the event loop leave in one syscall: the first write corks the socket and
 * a nextTick uncorks it, so everything the engine's step (or a burst of requests) writes meanwhile goes out
 * as one writev. Like Nagle's algorithm without its delay, or TCP_CORK held for one tick: with NO_DELAY on,
 * each tiny DATA frame was its own write(2), the largest single item of the request plane's CPU at high
 * request rates. nextTick runs after the current microtask cascade (the async generators feeding the
 * pumps), before any I/O, so no frame waits for a timer.
 */
import type { Socket } from 'node:net';

export class WriteBatcher {
  private corked = false;
  private readonly uncork = () => {
    this.corked = false;
    this.socket.uncork();
  };

  constructor(private readonly socket: Socket) {}

  /** socket.write(frame), batched with the other writes of this tick; returns write()'s backpressure flag. */
  write(frame: Buffer): boolean {
    if (!this.corked) {
      this.corked = true;
      this.socket.cork();
      process.nextTick(this.uncork);
    }
    return this.socket.write(frame);
  }
}
