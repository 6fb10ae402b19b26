/**
 * ASCII pictures of the paged KV cache for Lab 1.5: block tables (one row per request, logical block →
 * physical block id), the pool's refCnt map, and short hash labels. Like `pmap` or `/proc/PID/maps` for the
 * KV pool: the allocator's books drawn so a reader can see which pages two processes share.
 *
 *   logical block →    0     1     2     3     4
 *   request A       [  0]*[  1]*[  2]*[  3]*[  4]
 *   request B       [  0]*[  1]*[  2]*[  3]*[  6]      ← same physical blocks 0–3: the shared prefix
 */
import type { BlockHashes } from '../../../src/tokens/index.ts';

export interface NamedBlockTable {
  name: string;
  blockIds: readonly number[];
}

/** First 8 hex digits of a 64-bit hash: enough to tell blocks apart on screen. */
export function shortHash(hash: bigint): string {
  return hash.toString(16).padStart(16, '0').slice(0, 8);
}

/** refCnt per physical block = how many block tables hold it (the invariant KvCacheManager.checkInvariants asserts). */
export function refCounts(tables: readonly NamedBlockTable[]): Map<number, number> {
  const counts = new Map<number, number>();
  for (const table of tables) for (const id of table.blockIds) counts.set(id, (counts.get(id) ?? 0) + 1);
  return counts;
}

/** One row per request: a `[ id]` cell per logical block, `*` after a block shared with another request. */
export function renderBlockTables(tables: readonly NamedBlockTable[]): string[] {
  const counts = refCounts(tables);
  const label = 'logical block →';
  const width = Math.max(label.length, ...tables.map((t) => t.name.length));
  const longest = Math.max(...tables.map((t) => t.blockIds.length));
  const header = Array.from({ length: longest }, (_, i) => String(i).padStart(4).padEnd(6)).join('');
  const rows = tables.map((t) => {
    const cells = t.blockIds.map(
      (id) => `[${String(id).padStart(3)}]${(counts.get(id) ?? 0) > 1 ? '*' : ' '}`,
    );
    return `${t.name.padEnd(width)} ${cells.join('')}`;
  });
  return [
    `${label.padEnd(width)} ${header}`,
    ...rows,
    `${' '.repeat(width)} * = one physical block in both tables`,
  ];
}

/** `count` blocks of the pool from `first` as two rows: block id and refCnt ('.' = refCnt 0: free, or cached but idle). */
export function renderPoolMap(first: number, count: number, tables: readonly NamedBlockTable[]): string[] {
  const counts = refCounts(tables);
  const ids = Array.from({ length: count }, (_, i) => first + i);
  const cell = (text: string) => text.padStart(4);
  return [
    `block id ${ids.map((i) => cell(String(i))).join('')}`,
    `refCnt   ${ids.map((i) => cell(counts.has(i) ? String(counts.get(i)) : '.')).join('')}`,
  ];
}

/** Index of the block whose sequence hash is `hash` in `hashes`, or -1. */
export function depthOf(hashes: BlockHashes, hash: string): number {
  return hashes.sequence.findIndex((h) => h.toString(10) === hash);
}
