/**
 * Frames to bytes and back (layout in protocols/request-plane.ts). The decoder is a reassembly buffer,
 * like a TCP stack's: bytes arrive in arbitrary chunks, whole frames come out. It checks the length prefix
 * before buffering the body, so an oversized or garbage length is rejected at once instead of waiting for
 * (or allocating) gigabytes.
 */
import {
  DEFAULT_MAX_FRAME_BYTES,
  FRAME_HEADER_BYTES,
  FRAME_LENGTH_BYTES,
  type FrameType,
  frameTypeName,
  isFrameType,
} from '../../protocols/request-plane.ts';
import { FrameError, FrameTooLargeError } from './errors.ts';

/** A frame as it comes off the wire; the payload is parsed by whoever handles that type. */
export interface RawFrame {
  type: FrameType;
  streamId: number;
  /** UTF-8 JSON, or empty. */
  payload: Buffer;
}

const EMPTY = Buffer.alloc(0);

/**
 * One frame. `body` undefined = empty payload; anything else is JSON-encoded (so it must be JSON-safe:
 * no bigint, no cycles). Throws FrameTooLargeError past `maxFrameBytes`.
 */
export function encodeFrame(
  type: FrameType,
  streamId: number,
  body?: unknown,
  maxFrameBytes = DEFAULT_MAX_FRAME_BYTES,
): Buffer {
  if (body === undefined) return encodeRawFrame(type, streamId, EMPTY, maxFrameBytes);
  // The JSON goes straight into the frame: one buffer per frame (from Node's pool when small), no copy.
  const json = JSON.stringify(body);
  const total = FRAME_HEADER_BYTES + Buffer.byteLength(json, 'utf8');
  if (total > maxFrameBytes) throw new FrameTooLargeError(total, maxFrameBytes);
  const frame = Buffer.allocUnsafe(total);
  writeHeader(frame, type, streamId);
  frame.write(json, FRAME_HEADER_BYTES, 'utf8');
  return frame;
}

function writeHeader(frame: Buffer, type: FrameType, streamId: number): void {
  frame.writeUInt32BE(frame.length - FRAME_LENGTH_BYTES, 0);
  frame.writeUInt8(type, 4);
  frame.writeUInt32BE(streamId, 5);
}

export function encodeRawFrame(
  type: FrameType,
  streamId: number,
  payload: Buffer,
  maxFrameBytes = DEFAULT_MAX_FRAME_BYTES,
): Buffer {
  const total = FRAME_HEADER_BYTES + payload.length;
  if (total > maxFrameBytes) throw new FrameTooLargeError(total, maxFrameBytes);
  const frame = Buffer.allocUnsafe(total);
  writeHeader(frame, type, streamId);
  payload.copy(frame, FRAME_HEADER_BYTES);
  return frame;
}

/** Parse a frame's JSON payload; garbage is a FrameError (the peer is broken, not the user). */
export function parsePayload(frame: RawFrame): unknown {
  try {
    return JSON.parse(frame.payload.toString('utf8'));
  } catch (cause) {
    throw new FrameError(
      `Malformed ${frameTypeName(frame.type)} frame on stream ${frame.streamId}: payload is not valid JSON`,
      { cause },
    );
  }
}

export class FrameDecoder {
  /** Received chunks not yet cut into frames. */
  private chunks: Buffer[] = [];
  private buffered = 0;
  /** Total size of the frame being reassembled, once its length prefix has been read. */
  private expected: number | null = null;

  constructor(private readonly maxFrameBytes = DEFAULT_MAX_FRAME_BYTES) {}

  /** Bytes held waiting for the rest of a frame. */
  get bufferedBytes(): number {
    return this.buffered;
  }

  /** Feed bytes; returns the frames they complete. Throws FrameError on a malformed or oversized frame. */
  push(chunk: Buffer): RawFrame[] {
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    const frames: RawFrame[] = [];
    for (;;) {
      if (this.expected === null) {
        if (this.buffered < FRAME_LENGTH_BYTES) break;
        this.expected = this.readFrameSize();
      }
      if (this.buffered < this.expected) break;
      frames.push(this.decode(this.take(this.expected)));
      this.expected = null;
    }
    return frames;
  }

  private readFrameSize(): number {
    const length = this.peek(FRAME_LENGTH_BYTES).readUInt32BE(0);
    const total = FRAME_LENGTH_BYTES + length;
    if (total > this.maxFrameBytes) throw new FrameTooLargeError(total, this.maxFrameBytes);
    if (total < FRAME_HEADER_BYTES) {
      throw new FrameError(
        `Malformed frame: length ${length} is shorter than the 5-byte type + streamId header`,
      );
    }
    return total;
  }

  private decode(frame: Buffer): RawFrame {
    const type = frame.readUInt8(4);
    if (!isFrameType(type)) throw new FrameError(`Malformed frame: unknown frame type ${type}`);
    return { type, streamId: frame.readUInt32BE(5), payload: frame.subarray(FRAME_HEADER_BYTES) };
  }

  /** The first n buffered bytes, without consuming them. */
  private peek(n: number): Buffer {
    if (this.chunks[0].length < n) this.chunks = [Buffer.concat(this.chunks)];
    return this.chunks[0];
  }

  /** Consume exactly n bytes (n <= buffered); concatenates only when a frame spans chunks. */
  private take(n: number): Buffer {
    let out: Buffer;
    const first = this.chunks[0];
    if (first.length >= n) {
      out = first.subarray(0, n);
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
    } else {
      const all = Buffer.concat(this.chunks);
      out = all.subarray(0, n);
      this.chunks = all.length > n ? [all.subarray(n)] : [];
    }
    this.buffered -= n;
    return out;
  }
}
