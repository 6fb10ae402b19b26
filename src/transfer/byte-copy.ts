/**
 * Copy one list of byte views into another when their boundaries differ (the two sides coalesce block
 * runs differently): a scatter/gather memcpy, the user-space equivalent of an iovec-to-iovec copy.
 */
import { TransferProtocolError } from './errors.ts';
import { totalBytes } from './wire.ts';

export function copyViews(src: readonly Uint8Array[], dst: readonly Uint8Array[]): number {
  const n = totalBytes(src);
  if (n !== totalBytes(dst))
    throw new TransferProtocolError(
      `source has ${n} bytes but destination ${totalBytes(dst)}: descriptor lists disagree`,
    );
  let si = 0;
  let so = 0;
  for (const d of dst) {
    let dOff = 0;
    while (dOff < d.byteLength) {
      const s = src[si] as Uint8Array;
      const len = Math.min(s.byteLength - so, d.byteLength - dOff);
      d.set(s.subarray(so, so + len), dOff);
      dOff += len;
      so += len;
      if (so === s.byteLength) {
        si++;
        so = 0;
      }
    }
  }
  return n;
}
