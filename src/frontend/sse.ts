/**
 * Server-Sent Events writer: `data: {json}\n\n` per event, `data: [DONE]\n\n` at the end, as OpenAI streams.
 * Like a chunked-transfer response in a proxy: it respects backpressure (waits for 'drain' when the
 * socket buffer is full) and turns into a no-op once the client has gone away.
 */
import type { ServerResponse } from 'node:http';

export class SseWriter {
  constructor(private readonly res: ServerResponse) {}

  /**
   * Send the 200 headers; after this, errors can only travel as events. No `Connection` header of its own:
   * Node keeps the connection alive unless the server set `connection: close` (draining).
   */
  open(): void {
    this.res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      'x-accel-buffering': 'no',
    });
    this.res.flushHeaders();
  }

  get closed(): boolean {
    return this.res.destroyed || this.res.writableEnded;
  }

  /** One event; resolves when the socket can take more (or the client is gone). */
  async send(data: unknown): Promise<void> {
    await this.write(`data: ${JSON.stringify(data)}\n\n`);
  }

  /** The `[DONE]` sentinel, then end the response. */
  async done(): Promise<void> {
    await this.write('data: [DONE]\n\n');
    if (!this.closed) this.res.end();
  }

  private async write(text: string): Promise<void> {
    if (this.closed) return;
    if (this.res.write(text)) return;
    await new Promise<void>((resolve) => {
      const settle = (): void => {
        this.res.off('drain', settle);
        this.res.off('close', settle);
        resolve();
      };
      this.res.on('drain', settle);
      this.res.on('close', settle);
    });
  }
}
