/**
 * The wire between pipeline stages: one dedicated TCP connection per link (stage i → stage i+1), carrying
 * the transfer agent's frame layout (transfer/wire.ts), re-declared here because engine/ sits below
 * transfer/ in the layering:
 *
 *     frame = u32 LE header length | header (UTF-8 JSON, with `bytes`) | payload (`bytes` raw bytes)
 *
 * Why this framing and not the request plane's: a hidden-state hand-off is a bulk f32 tensor (rows × hidden
 * × 4 bytes) with a small header, the transfer agent's READ/WRITE shape. The request plane frames JSON
 * payloads for request/response streams; floats in JSON would triple the bytes and cost a parse per value.
 * Raw payload bytes go out as views of the tensor (no encode step) and arrive as one Buffer per frame.
 *
 * Messages (downstream = towards the last stage):
 *   setup   {numBlocks, blockSize, addresses}          ─▶   ◀─ ready {stages: StageReport[]}
 *   forward {mb, batch, rows} + hidden (rows × dim f32) ─▶   (stage i → i+1)
 *                                                       ◀─ logits {mb, rows} + (rows × vocab f32) (last → … → 0)
 *   stats   {reset}                                    ─▶   ◀─ stats {stages: StageBusy[]}
 *                                                       ◀─ error {message}   (any stage; relayed upstream)
 */
import type { Socket } from 'node:net';
import type { ForwardBatch } from '../../model/index.ts';

/** What a stage tells the driver once it is ready: what it holds and what that costs in memory. */
export interface StageReport {
  stage: number;
  pid: number;
  host: string;
  /** `layers x hidden x vocab` of the checkpoint it loaded: a stage of another model must not join. */
  model: string;
  /** The stage count it split the model for. */
  numStages: number;
  layers: [number, number];
  embed: boolean;
  head: boolean;
  weightBytes: number;
  kvBytes: number;
  rssBytes: number;
}

/** Busy intervals of one stage (wall-clock ms, `performance.timeOrigin + now()`), for the bubble. */
export interface StageBusy {
  stage: number;
  intervals: Array<[number, number]>;
}

/** Wall-clock milliseconds with sub-millisecond precision: comparable across processes on one host. */
export function wallMs(): number {
  return performance.timeOrigin + performance.now();
}

/** `layers x hidden x vocab`: enough to tell two checkpoints' shapes apart when stages meet. */
export function modelShape(c: { numLayers: number; hiddenSize: number; vocabSize: number }): string {
  return `${c.numLayers}x${c.hiddenSize}x${c.vocabSize}`;
}

/** A ForwardBatch as JSON (typed arrays as plain arrays). */
export interface WireBatch {
  tokenIds: number[];
  positions: number[];
  slotMapping: number[];
  seqs: Array<{ queryStart: number; queryLen: number; contextLen: number; blockTable: number[] }>;
  logitsRows: number[];
}

export type StageMessage =
  | { type: 'setup'; numBlocks: number; blockSize: number; addresses: string[] }
  | { type: 'ready'; stages: StageReport[] }
  | { type: 'forward'; mb: number; batch: WireBatch; rows: number }
  | { type: 'logits'; mb: number; rows: number }
  | { type: 'stats'; reset?: boolean; stages?: StageBusy[] }
  | { type: 'error'; message: string };

/** The line a spawned stage prints on stdout once it listens: this prefix, then `host:port`. */
export const STAGE_READY_PREFIX = 'PIPELINE_STAGE_READY ';

/** Headers are small (a batch's block tables); anything far larger means the stream lost sync. */
const MAX_HEADER_BYTES = 64 * 1024 * 1024;

export function toWireBatch(b: ForwardBatch): WireBatch {
  return {
    tokenIds: Array.from(b.tokenIds),
    positions: Array.from(b.positions),
    slotMapping: Array.from(b.slotMapping),
    seqs: b.seqs.map((s) => ({ ...s, blockTable: Array.from(s.blockTable) })),
    logitsRows: Array.from(b.logitsRows),
  };
}

export function fromWireBatch(w: WireBatch): ForwardBatch {
  return {
    tokenIds: Int32Array.from(w.tokenIds),
    positions: Int32Array.from(w.positions),
    slotMapping: Int32Array.from(w.slotMapping),
    seqs: w.seqs.map((s) => ({ ...s, blockTable: Int32Array.from(s.blockTable) })),
    logitsRows: Int32Array.from(w.logitsRows),
  };
}

/** Send one frame; `payload` goes out as a view of the caller's tensor (no copy in user space). */
export function sendFrame(socket: Socket, message: StageMessage, payload?: Float32Array): void {
  const bytes = payload?.byteLength ?? 0;
  const json = Buffer.from(JSON.stringify({ ...message, bytes }), 'utf8');
  const prefix = Buffer.allocUnsafe(4);
  prefix.writeUInt32LE(json.length, 0);
  socket.cork();
  socket.write(prefix);
  socket.write(json);
  if (payload && bytes > 0) socket.write(Buffer.from(payload.buffer, payload.byteOffset, bytes));
  socket.uncork();
}

export type FrameHandler = (message: StageMessage, payload: Float32Array) => void;

/**
 * Cuts a socket's byte stream into frames, like a TCP stack's reassembly buffer. A payload that arrived in
 * one chunk at a 4-byte-aligned offset is used in place; otherwise it is gathered (one copy).
 */
export class FrameReader {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private header: (StageMessage & { bytes: number }) | null = null;
  private headerLength = -1;

  constructor(
    socket: Socket,
    private readonly onFrame: FrameHandler,
    private readonly onError: (err: Error) => void,
  ) {
    socket.on('data', (chunk: Buffer) => {
      this.chunks.push(chunk);
      this.buffered += chunk.length;
      try {
        this.drain();
      } catch (err) {
        socket.destroy();
        this.onError(err as Error);
      }
    });
  }

  private drain(): void {
    for (;;) {
      if (this.headerLength < 0) {
        if (this.buffered < 4) return;
        this.headerLength = this.take(4).readUInt32LE(0);
        if (this.headerLength === 0 || this.headerLength > MAX_HEADER_BYTES)
          throw new Error(
            `pipeline frame header length ${this.headerLength} is out of range: the stream lost sync`,
          );
      }
      if (this.header === null) {
        if (this.buffered < this.headerLength) return;
        this.header = JSON.parse(this.take(this.headerLength).toString('utf8')) as StageMessage & {
          bytes: number;
        };
      }
      const bytes = this.header.bytes;
      if (this.buffered < bytes) return;
      const raw = this.take(bytes);
      const payload =
        raw.byteOffset % 4 === 0
          ? new Float32Array(raw.buffer, raw.byteOffset, bytes / 4)
          : new Float32Array(new Uint8Array(raw).buffer);
      const message = this.header;
      this.header = null;
      this.headerLength = -1;
      this.onFrame(message, payload);
    }
  }

  /** The next `n` buffered bytes, without a copy when they lie in one chunk. */
  private take(n: number): Buffer {
    this.buffered -= n;
    const first = this.chunks[0];
    if (first && first.length >= n) {
      const out = first.subarray(0, n);
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
      return out;
    }
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    while (filled < n) {
      const chunk = this.chunks[0]!;
      const len = Math.min(chunk.length, n - filled);
      chunk.copy(out, filled, 0, len);
      filled += len;
      if (len === chunk.length) this.chunks.shift();
      else this.chunks[0] = chunk.subarray(len);
    }
    return out;
  }
}
