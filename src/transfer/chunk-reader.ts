/**
 * The target's receive side: socket chunks as node delivers them ('data' events), read out as exact-size
 * items. Payload bytes are copied once, from the chunk into the destination view (server sockets have no
 * `onread` option in node, so a WRITE costs one user-space copy per byte; a READ costs none).
 */
import type { Socket } from 'node:net';
import { PeerClosedError } from './errors.ts';

export class ChunkReader {
  private readonly chunks: Buffer[] = [];
  private offset = 0;
  private ended: Error | null = null;
  private wake: (() => void) | null = null;

  constructor(socket: Socket, peer: string) {
    socket.on('data', (chunk: Buffer) => {
      this.chunks.push(chunk);
      this.poke();
    });
    socket.on('close', () => {
      this.ended ??= new PeerClosedError(`data connection from ${peer} closed`);
      this.poke();
    });
  }

  /**
   * Fill `views` in order from the stream; returns the bytes copied. Rejects with PeerClosedError if the
   * connection ends first. `views` may be empty bytes to discard (`discard`).
   */
  async fill(views: readonly Uint8Array[]): Promise<number> {
    let copied = 0;
    for (const view of views) {
      let pos = 0;
      while (pos < view.byteLength) {
        const chunk = await this.nextChunk();
        const len = Math.min(chunk.length - this.offset, view.byteLength - pos);
        view.set(chunk.subarray(this.offset, this.offset + len), pos);
        this.consume(len);
        pos += len;
        copied += len;
      }
    }
    return copied;
  }

  /** Drop `n` bytes (the payload of a refused WRITE) without storing them anywhere. */
  async discard(n: number): Promise<void> {
    let left = n;
    while (left > 0) {
      const chunk = await this.nextChunk();
      const len = Math.min(chunk.length - this.offset, left);
      this.consume(len);
      left -= len;
    }
  }

  private consume(len: number): void {
    this.offset += len;
    if (this.offset === (this.chunks[0] as Buffer).length) {
      this.chunks.shift();
      this.offset = 0;
    }
  }

  private async nextChunk(): Promise<Buffer> {
    for (;;) {
      const chunk = this.chunks[0];
      if (chunk) return chunk;
      if (this.ended) throw this.ended;
      await new Promise<void>((resolve) => {
        this.wake = resolve;
      });
    }
  }

  private poke(): void {
    const wake = this.wake;
    this.wake = null;
    wake?.();
  }
}
