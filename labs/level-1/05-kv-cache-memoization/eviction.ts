/**
 * The last part of Lab 1.5: what eviction does to the memoization table. A pool of only a few blocks, one
 * prompt cached, then a filler request that needs more free blocks than there are: the pool evicts the
 * cached prompt's blocks, deepest first (LRU order, the tail of a prefix before its head), announces each
 * with a `removed` KV event, and the old prompt comes back to a shorter cache hit. Like a buffer pool
 * under memory pressure: unpinned pages stay cached until someone needs the frames.
 */
import { benchRequest, syntheticPrompt } from '../../../bench/lib/prompts.ts';
import { timeRequest } from '../../../bench/lib/request-timing.ts';
import { LlmEngine } from '../../../src/engine/index.ts';
import type { KvCacheEvent } from '../../../src/protocols/kv-events.ts';
import { type BlockHashes, computeBlockHashes } from '../../../src/tokens/index.ts';
import { defaultModelDir } from '../../../src/util/paths.ts';
import { note, printTable } from '../../lib/lab-kit.ts';
import { depthOf, shortHash } from './block-table-view.ts';

const POOL_BLOCKS = 10;
const BLOCK_SIZE = 16;

interface Labelled {
  name: string;
  hashes: BlockHashes;
}

function label(hash: string, prompts: readonly Labelled[]): string {
  for (const p of prompts) {
    const depth = depthOf(p.hashes, hash);
    if (depth >= 0) return `${p.name}#${depth}`;
  }
  return `?${shortHash(BigInt(hash))}`;
}

function describe(event: KvCacheEvent, prompts: readonly Labelled[]): string {
  const { data } = event;
  if (data.type === 'stored') return data.blocks.map((b) => label(b.blockHash, prompts)).join(' ');
  if (data.type === 'removed') return data.blockHashes.map((h) => label(h, prompts)).join(' ');
  return '(every block)';
}

let requestCount = 0;

/** Send one request (max_tokens 1) and return the prompt tokens the engine served from its cache. */
async function send(engine: LlmEngine, prompt: number[]): Promise<number> {
  const timing = await timeRequest(engine, benchRequest(`evict-${++requestCount}`, prompt, 1));
  return timing.numCachedTokens;
}

/** Runs the eviction demonstration on a fresh tiny engine; `prompt` is the lab's chat prompt. */
export async function demonstrateEviction(prompt: number[], vocabSize: number): Promise<void> {
  const engine = await LlmEngine.create({ modelDir: defaultModelDir, numKvBlocks: POOL_BLOCKS });
  const log: KvCacheEvent[] = [];
  const unsubscribe = engine.kv.events.subscribe((event) => log.push(event));
  try {
    const fullBlocks = Math.floor(prompt.length / BLOCK_SIZE);
    // The filler must need more blocks than are free-and-unhashed, so the pool evicts 2 of P's blocks.
    const fillerBlocks = POOL_BLOCKS - fullBlocks + 2;
    const filler = syntheticPrompt(fillerBlocks * BLOCK_SIZE - 4, 4242, vocabSize);
    const prompts: Labelled[] = [
      { name: 'P', hashes: computeBlockHashes(prompt, BLOCK_SIZE) },
      { name: 'filler', hashes: computeBlockHashes(filler, BLOCK_SIZE) },
    ];
    note(
      `Pool: ${POOL_BLOCKS} blocks × ${BLOCK_SIZE} tokens. Prompt P: ${prompt.length} tokens = ${fullBlocks} full blocks ` +
        `(P#0..P#${fullBlocks - 1}) + a partial one. Filler: ${filler.length} tokens = ${Math.ceil(filler.length / BLOCK_SIZE)} blocks.`,
    );

    const rows: (string | number)[][] = [];
    const phase = async (what: string, tokens: number[]) => {
      const before = log.length;
      const cached = await send(engine, tokens);
      const stats = engine.kv.stats();
      rows.push([what, cached, stats.numCachedBlocks, stats.activeBlocks]);
      for (const event of log.slice(before)) {
        note(`  event ${event.eventId}: ${event.data.type.padEnd(7)} ${describe(event, prompts)}`);
      }
      return cached;
    };

    note('1. P, cold (its full blocks are stored in the prefix cache):');
    await phase('P (cold)', prompt);
    note('2. P again: the request finished, its blocks have refCnt 0, yet they are still cached:');
    const warm = await phase('P (again)', prompt);
    note('3. A filler request that needs more blocks than are free and empty: eviction');
    await phase('filler', filler);
    note('4. P once more: only the part of its prefix that survived is a hit:');
    const afterEviction = await phase('P (after eviction)', prompt);

    printTable(['request', 'cached prompt tokens', 'blocks in prefix cache', 'blocks in use'], rows);
    const removed = log.flatMap((e) => (e.data.type === 'removed' ? e.data.blockHashes : []));
    const firstRemoved = removed.slice(0, 2).map((h) => label(h, prompts));
    note(
      `Evicted to make room for the filler: ${firstRemoved.join(' then ')} (deepest first: the tail of a prefix ` +
        'goes before its head, which more prompts share).',
    );
    note(`P after eviction: ${afterEviction} of ${prompt.length} prompt tokens cached (was ${warm}).`);
    engine.kv.checkInvariants();
  } finally {
    unsubscribe();
    await engine.close();
  }
}
