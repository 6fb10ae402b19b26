/**
 * A stand-in for vLLM's `ZmqEventPublisher` (vllm/distributed/kv_events.py), for tests: a PUB socket
 * sending [topic, seq as 8-byte big-endian, payload] and a ROUTER replay socket answering [empty, start]
 * with every buffered batch from `start` on and then the end marker (-1, empty), as vLLM's
 * `_service_replay` does.
 *
 * Payloads are built the way msgspec encodes vLLM's structs, written out here from the msgpack spec rather
 * than with a msgpack library, so the bytes are what vLLM sends, not what our decoder's library would
 * write: integers in their smallest form, Python floats as float64, `None` as nil, bytes as bin, a tagged
 * `array_like` struct as [class name, fields in declaration order], trailing defaulted fields omitted.
 */
import { Publisher, Router } from 'zeromq';

/** Python values as msgspec sees them: int (bigint), float (number), str, bytes, None, list, dict. */
export type PyValue = bigint | number | string | Uint8Array | null | boolean | PyValue[] | PyMap;
export class PyMap {
  constructor(readonly entries: [string, PyValue][]) {}
}

/** msgpack bytes of `value`, byte for byte what msgspec.msgpack.Encoder writes. */
export function msgspecEncode(value: PyValue): Buffer {
  const out: number[] = [];
  write(value, out);
  return Buffer.from(out);
}

function write(v: PyValue, out: number[]): void {
  if (v === null) out.push(0xc0);
  else if (v === true || v === false) out.push(v ? 0xc3 : 0xc2);
  else if (typeof v === 'bigint') writeInt(v, out);
  else if (typeof v === 'number') {
    const b = Buffer.alloc(9);
    b[0] = 0xcb;
    b.writeDoubleBE(v, 1);
    out.push(...b);
  } else if (typeof v === 'string') {
    const bytes = Buffer.from(v, 'utf8');
    header(bytes.length, [0xa0, 31], 0xd9, 0xda, 0xdb, out);
    out.push(...bytes);
  } else if (v instanceof Uint8Array) {
    header(v.length, null, 0xc4, 0xc5, 0xc6, out);
    out.push(...v);
  } else if (v instanceof PyMap) {
    header(v.entries.length, [0x80, 15], null, 0xde, 0xdf, out);
    for (const [k, item] of v.entries) {
      write(k, out);
      write(item, out);
    }
  } else {
    header(v.length, [0x90, 15], null, 0xdc, 0xdd, out);
    for (const item of v) write(item, out);
  }
}

/** A length prefix: fix form when it fits, else the 8/16/32-bit form (null = that form does not exist). */
function header(
  n: number,
  fix: [number, number] | null,
  b8: number | null,
  b16: number,
  b32: number,
  out: number[],
): void {
  if (fix && n <= fix[1]) out.push(fix[0] | n);
  else if (b8 !== null && n < 0x100) out.push(b8, n);
  else if (n < 0x10000) out.push(b16, n >> 8, n & 0xff);
  else out.push(b32, (n >>> 24) & 0xff, (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff);
}

function writeInt(v: bigint, out: number[]): void {
  const b = Buffer.alloc(9);
  if (v >= 1n << 64n) throw new RangeError(`${v} does not fit a u64`);
  if (v >= 0n) {
    if (v < 128n) return void out.push(Number(v));
    if (v < 0x100n) return void out.push(0xcc, Number(v));
    if (v < 0x10000n) return void out.push(0xcd, Number(v >> 8n), Number(v & 0xffn));
    if (v < 0x100000000n) {
      b[0] = 0xce;
      b.writeUInt32BE(Number(v), 1);
      return void out.push(...b.subarray(0, 5));
    }
    b[0] = 0xcf;
    b.writeBigUInt64BE(v, 1);
    return void out.push(...b);
  }
  if (v >= -32n) return void out.push(Number(v) & 0xff);
  throw new RangeError(`${v}: ints below -32 never occur in vLLM's KV events; not encoded here`);
}

/** `BlockStored(...)` as an array_like tagged struct (vLLM <= 0.11 layout, `medium` included). */
export function blockStored(
  blockHashes: bigint[],
  parent: bigint | null,
  tokenIds: number[],
  blockSize: number,
  medium: string | null = 'GPU',
): PyValue {
  return ['BlockStored', blockHashes, parent, tokenIds.map(BigInt), BigInt(blockSize), null, medium];
}

export function blockRemoved(blockHashes: bigint[], medium: string | null = 'GPU'): PyValue {
  return ['BlockRemoved', blockHashes, medium];
}

export const allBlocksCleared: PyValue = ['AllBlocksCleared'];

/** `KVEventBatch(ts, events, data_parallel_rank)` as an array_like struct. */
export function eventBatch(ts: number, events: PyValue[], dataParallelRank: number | null = 0): Buffer {
  const fields: PyValue[] = [ts, events];
  if (dataParallelRank !== null) fields.push(BigInt(dataParallelRank));
  return msgspecEncode(fields);
}

/** vLLM's publisher: PUB + ROUTER replay with an in-memory buffer of every batch sent. */
export class FakeVllmPublisher {
  private readonly pub = new Publisher({ linger: 0 });
  private readonly replay = new Router({ linger: 0 });
  private readonly buffer: [bigint, Buffer][] = [];
  private seq = 0n;
  private serving: Promise<void> | undefined;
  readonly replayRequests: bigint[] = [];

  constructor(
    readonly endpoint: string,
    readonly replayEndpoint: string,
  ) {}

  async start(): Promise<void> {
    await this.pub.bind(this.endpoint);
    await this.replay.bind(this.replayEndpoint);
    this.serving = this.serveReplay().catch(() => undefined);
  }

  /** Publish one batch (or, with `drop`, only buffer it: a message lost on the way). */
  async publish(payload: Buffer, opts: { drop?: boolean } = {}): Promise<bigint> {
    const seq = this.seq++;
    this.buffer.push([seq, payload]);
    if (!opts.drop) await this.pub.send([Buffer.alloc(0), be64(seq), payload]);
    return seq;
  }

  /** A new vLLM process on the same endpoints: sequence numbers from 0 again, an empty replay buffer. */
  restartSequence(): void {
    this.seq = 0n;
    this.buffer.length = 0;
  }

  /** Forget buffered batches before `seq` (vLLM's deque keeps only `buffer_steps`). */
  trimBufferBefore(seq: bigint): void {
    while (this.buffer.length > 0 && this.buffer[0]![0] < seq) this.buffer.shift();
  }

  async close(): Promise<void> {
    this.pub.close();
    this.replay.close();
    await this.serving;
  }

  private async serveReplay(): Promise<void> {
    for await (const [clientId, , start] of this.replay) {
      const from = start!.readBigInt64BE(0);
      this.replayRequests.push(from);
      for (const [seq, payload] of this.buffer) {
        if (seq >= from) await this.replay.send([clientId!, Buffer.alloc(0), be64(seq), payload]);
      }
      await this.replay.send([clientId!, Buffer.alloc(0), be64(-1n), Buffer.alloc(0)]);
    }
  }
}

function be64(v: bigint): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigInt64BE(v);
  return b;
}
