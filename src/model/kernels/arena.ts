/**
 * SharedArena: one shared WebAssembly.Memory holding everything the kernels touch — weights, activations,
 * and the thread pool's control block — handed out by a bump allocator.
 *
 * Systems analogy: a shared-memory segment (shm) mapped by every worker thread at the same addresses. A
 * pointer is just a byte offset into it, so a job sent to a worker is a handful of integers, never a copy.
 *
 *   0        CONTROL_BYTES                                              top           byteLength
 *   | control | weights (load time) ... | activations (grown on demand)  | free ...  |
 *
 * Nothing is ever freed: weights live as long as the model, and activation buffers are reused by the
 * forward pass (it reallocates only when a batch is bigger than any before). A shared memory never moves
 * or detaches when it grows, so views made earlier stay valid; but `memory.buffer` hands out a new
 * SharedArrayBuffer object over the same bytes after each growth, and V8 (Node 20) also replaces it when
 * any *other* shared memory of the process grows (a second model's arena, say). So every view is made on
 * the buffer object read at that moment, and that object is recorded first: `owns` knows every one of
 * them, whoever grew what in between.
 */

const PAGE = 65536;
/** 4 GiB: the most a 32-bit WebAssembly memory can address. Only address space is reserved up front. */
const MAX_PAGES = 65536;
/** Bytes at offset 0 reserved for the thread pool's control block. */
export const CONTROL_BYTES = 4096;

export class SharedArena {
  readonly memory: WebAssembly.Memory;
  private top = CONTROL_BYTES;
  private readonly buffers = new Set<ArrayBufferLike>();

  constructor(initialBytes: number) {
    const pages = Math.min(MAX_PAGES, Math.ceil((initialBytes + CONTROL_BYTES) / PAGE));
    this.memory = new WebAssembly.Memory({ initial: pages, maximum: MAX_PAGES, shared: true });
    this.currentBuffer();
  }

  /** The control block at offset 0: Int32Array (CONTROL_BYTES / 4). */
  control(): Int32Array {
    return new Int32Array(this.currentBuffer(), 0, CONTROL_BYTES / 4);
  }

  allocF32(length: number): Float32Array {
    const offset = this.reserve(length * 4); // first: it may grow the memory (a new buffer object)
    return new Float32Array(this.currentBuffer(), offset, length);
  }

  allocI32(length: number): Int32Array {
    const offset = this.reserve(length * 4);
    return new Int32Array(this.currentBuffer(), offset, length);
  }

  allocI8(length: number): Int8Array {
    const offset = this.reserve(length);
    return new Int8Array(this.currentBuffer(), offset, length);
  }

  allocU8(length: number): Uint8Array {
    const offset = this.reserve(length);
    return new Uint8Array(this.currentBuffer(), offset, length);
  }

  /** True when `view` is backed by this arena (so its byteOffset is a kernel pointer). */
  owns(view: ArrayBufferView): boolean {
    return this.buffers.has(view.buffer);
  }

  get bytesUsed(): number {
    return this.top;
  }

  /** The memory's buffer object as of now, recorded so that views made on it are known as ours. */
  private currentBuffer(): ArrayBufferLike {
    const buffer = this.memory.buffer;
    this.buffers.add(buffer);
    return buffer;
  }

  /** 16-byte aligned (one SIMD vector) block of `bytes`; grows the memory when needed. */
  private reserve(bytes: number): number {
    const start = this.top;
    const end = start + Math.ceil(bytes / 16) * 16;
    const have = this.memory.buffer.byteLength;
    if (end > have) {
      if (end > MAX_PAGES * PAGE) {
        throw new RangeError(
          `kernel arena needs ${end} bytes, more than the 4 GiB a 32-bit WebAssembly memory can hold; ` +
            'try --weight-dtype q8_0 or a smaller batch (--max-num-batched-tokens)',
        );
      }
      // Grow by at least a quarter, so a run of small allocations does not grow page by page.
      const wanted = Math.max(Math.ceil((end - have) / PAGE), Math.ceil(have / PAGE / 4));
      this.memory.grow(Math.min(wanted, MAX_PAGES - have / PAGE));
    }
    this.top = end;
    return start;
  }
}
