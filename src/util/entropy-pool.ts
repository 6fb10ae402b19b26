/**
 * OS randomness drawn in 4 KiB batches, like a libc's buffered getrandom(): every request needs a few random
 * bytes (its id, its sampler's seed), and one `randomBytes` call per need costs a syscall-sized trip into
 * the crypto binding each time (2 % of the frontend's CPU at a few thousand requests per second). Node's
 * own `randomUUID` caches the same way. The bytes are as unpredictable as `randomBytes`' (same source);
 * they are handed out once each.
 */
import { randomFillSync } from 'node:crypto';

const POOL_BYTES = 4096;
const pool = Buffer.alloc(POOL_BYTES);
let offset = POOL_BYTES;

/** `n` (≤ 4096) fresh random bytes, copied out of the pool. */
export function pooledRandomBytes(n: number): Buffer {
  if (n > POOL_BYTES) throw new RangeError(`pooledRandomBytes: at most ${POOL_BYTES} bytes, asked ${n}`);
  if (offset + n > POOL_BYTES) {
    randomFillSync(pool);
    offset = 0;
  }
  const out = Buffer.from(pool.subarray(offset, offset + n));
  pool.fill(0, offset, offset + n); // handed out once: never readable again from the pool
  offset += n;
  return out;
}

/** `n` random bytes as lowercase hex (request ids). */
export function randomHex(n: number): string {
  return pooledRandomBytes(n).toString('hex');
}
