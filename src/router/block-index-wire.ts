/**
 * A `BlockIndex` fed from KV events: their sequence hashes arrive as decimal strings (the wire form) and are
 * split into 32-bit halves by digit arithmetic (`HashHalves.wire`), so applying an event parses no BigInt
 * and allocates nothing per block. The worker's slot is looked up once per event, not once per block.
 */
import type { WorkerId } from '../protocols/ids.ts';
import type { BlockIndex } from './block-index.ts';
import { HashHalves } from './hash-halves.ts';

/** Scratch for one hash's halves (read at once: every call below is synchronous). */
const halves = new HashHalves();

/** `BlockIndex.store` for hashes in wire form (registers the worker even when `wireHashes` is empty). */
export function storeWire(index: BlockIndex, workerId: WorkerId, wireHashes: readonly string[]): number {
  const slot = index.ensureSlot(workerId);
  let added = 0;
  for (const wire of wireHashes) {
    const h = halves.wire(wire);
    added += index.storeHalvesAt(slot, h[0]!, h[1]!);
  }
  return added;
}

/** `BlockIndex.remove` for hashes in wire form; returns how many the worker held. */
export function removeWire(index: BlockIndex, workerId: WorkerId, wireHashes: readonly string[]): number {
  const slot = index.slotOf(workerId);
  if (slot < 0) return 0;
  let removed = 0;
  for (const wire of wireHashes) {
    const h = halves.wire(wire);
    removed += index.removeHalvesAt(slot, h[0]!, h[1]!);
  }
  return removed;
}

/** `BlockIndex.holds` for a hash in wire form (a decimal string, already validated). */
export function holdsWire(index: BlockIndex, workerId: WorkerId, wireHash: string): boolean {
  const slot = index.slotOf(workerId);
  if (slot < 0) return false;
  const h = halves.wire(wireHash);
  return index.holdsHalvesAt(slot, h[0]!, h[1]!);
}
