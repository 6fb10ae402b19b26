/**
 * Send a frame and a long list of byte views (registered KV memory) on a stream socket: gather-writes in
 * batches, with backpressure, straight from the views (zero user-space copies).
 *
 * Why batches: node turns each corked group of writes into one writev(2), but queueing a write costs about a
 * microsecond of JavaScript per view, and a scattered 4,096-block READ of a SmolLM2-sized pool is 245,760
 * views. Corking them all at once means the kernel copies nothing until the whole list is queued (and then
 * one enormous writev list is walked 1,024 iovecs at a time). Batches of at most IOV_MAX views / a few MiB,
 * each sent as soon as it is queued, let the peer's read(2) run on the other core while we queue the next
 * batch — like a NIC driver posting work requests in chunks instead of building one giant descriptor list.
 */
import type { Socket } from 'node:net';

/** Linux's IOV_MAX: the most scatter/gather entries one writev(2) takes. */
const MAX_VIEWS_PER_BATCH = 1024;
/** Bytes per batch: large enough to amortize the syscall, small enough to start the peer early. */
const MAX_BYTES_PER_BATCH = 8 << 20;
/** Queue at most this much ahead of the kernel before waiting for 'drain' (bounded memory pinning). */
const HIGH_WATER_BYTES = 16 << 20;

/**
 * Write `frame` then every view, in order. Resolves once everything is queued on the socket (not
 * necessarily on the wire); stops early, without throwing, if the socket is destroyed meanwhile (the
 * connection's own close/error handling reports that).
 */
export async function writeFrameAndViews(
  socket: Socket,
  frame: Uint8Array,
  views: readonly Uint8Array[],
): Promise<void> {
  let i = 0;
  let first = true;
  while (first || i < views.length) {
    if (socket.destroyed) return;
    socket.cork();
    if (first) socket.write(frame);
    first = false;
    let bytes = 0;
    for (let n = 0; n < MAX_VIEWS_PER_BATCH && bytes < MAX_BYTES_PER_BATCH && i < views.length; n++, i++) {
      const view = views[i] as Uint8Array;
      socket.write(Buffer.from(view.buffer, view.byteOffset, view.byteLength));
      bytes += view.byteLength;
    }
    socket.uncork();
    if (i < views.length && socket.writableLength > HIGH_WATER_BYTES) await drained(socket);
  }
}

function drained(socket: Socket): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      socket.off('drain', done);
      socket.off('close', done);
      resolve();
    };
    socket.on('drain', done);
    socket.on('close', done);
  });
}
