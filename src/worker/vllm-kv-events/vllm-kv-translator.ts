/**
 * vLLM's KV events → ours. vLLM names a block by its own chained hash (sha256 of parent hash, tokens and
 * extra keys, with a per-deployment seed); our router names it by OUR chained hash (XXH3 of the token ids,
 * tokens/block-hash.ts), which it computes from a request's tokens. The two never agree, so vLLM's hash is
 * only used as a key: each `BlockStored` carries the blocks' token ids and the parent's vLLM hash, we look
 * the parent's OUR hash up in a table (vLLM hash → our hashes), hash the tokens our way, and remember each
 * new block under its vLLM hash, so a later `BlockRemoved` (which carries vLLM hashes only) maps back.
 *
 * Like a NAT table: foreign ids in, our ids out, one entry per live block. Events we cannot translate
 * faithfully are dropped and counted, never guessed: a parent we never saw (we joined late or lost
 * events), another block size, a LoRA adapter or extra keys (multimodal, cache salt: tokens alone do not
 * identify that KV), an offload tier (medium other than GPU), another KV cache group.
 */
import type { LocalBlockHash, SequenceHash } from '../../protocols/ids.ts';
import {
  hashToWire,
  type KvCacheEvent,
  type KvCacheEventData,
  type KvStoredBlock,
} from '../../protocols/kv-events.ts';
import { chainBlockHash, hashBlockTokens } from '../../tokens/block-hash.ts';
import type { VllmBlockRemoved, VllmBlockStored, VllmKvEvent } from './vllm-kv-wire.ts';
import { vllmHashKey } from './vllm-kv-wire.ts';

interface Entry {
  sequence: SequenceHash;
  local: LocalBlockHash;
  parent: SequenceHash | null;
  tokenIds: number[];
}

export type SkipReason =
  | 'unknown-parent'
  | 'block-size'
  | 'lora'
  | 'extra-keys'
  | 'medium'
  | 'group'
  | 'malformed';

export class VllmKvTranslator {
  /** vLLM hash key → our hashes, in insertion order (a parent always before its children). */
  private readonly blocks = new Map<string, Entry>();
  /** How many vLLM blocks map to each of our sequence hashes (two vLLM hashes may share tokens). */
  private readonly refs = new Map<SequenceHash, number>();
  readonly skipped: Record<SkipReason, number> = {
    'unknown-parent': 0,
    'block-size': 0,
    lora: 0,
    'extra-keys': 0,
    medium: 0,
    group: 0,
    malformed: 0,
  };

  constructor(readonly blockSize: number) {}

  /** Blocks currently known (what the vLLM engine holds in its GPU prefix cache, as far as we can tell). */
  get size(): number {
    return this.blocks.size;
  }

  /** Our event for one vLLM event, or null when there is nothing to announce (or it was skipped). */
  translate(event: VllmKvEvent): KvCacheEventData | null {
    switch (event.type) {
      case 'BlockStored':
        return this.stored(event);
      case 'BlockRemoved':
        return this.removed(event);
      case 'AllBlocksCleared':
        this.clear();
        return { type: 'cleared' };
    }
  }

  clear(): void {
    this.blocks.clear();
    this.refs.clear();
  }

  /** The whole table as `stored` events, parents first (the answer to a router's kv_snapshot). */
  dump(eventId: number): KvCacheEvent[] {
    return [...this.blocks.values()].map((e) => ({
      eventId,
      data: {
        type: 'stored',
        parentHash: e.parent === null ? null : hashToWire(e.parent),
        blocks: [
          { blockHash: hashToWire(e.sequence), tokensHash: hashToWire(e.local), tokenIds: e.tokenIds },
        ],
      },
    }));
  }

  private stored(event: VllmBlockStored): KvCacheEventData | null {
    const reason = this.unsupported(event);
    if (reason) {
      this.skipped[reason]++;
      return null;
    }
    let parent: SequenceHash | null = null;
    if (event.parentBlockHash !== null) {
      const known = this.blocks.get(vllmHashKey(event.parentBlockHash));
      if (!known) {
        this.skipped['unknown-parent']++;
        return null;
      }
      parent = known.sequence;
    }
    const parentHash = parent === null ? null : hashToWire(parent);
    const out: KvStoredBlock[] = [];
    event.blockHashes.forEach((hash, i) => {
      const tokenIds = event.tokenIds.slice(i * this.blockSize, (i + 1) * this.blockSize);
      const local = hashBlockTokens(tokenIds, 0, this.blockSize);
      const sequence = chainBlockHash(parent, local);
      const key = vllmHashKey(hash);
      if (!this.blocks.has(key)) this.refs.set(sequence, (this.refs.get(sequence) ?? 0) + 1);
      this.blocks.set(key, { sequence, local, parent, tokenIds });
      out.push({ blockHash: hashToWire(sequence), tokensHash: hashToWire(local), tokenIds });
      parent = sequence;
    });
    return out.length > 0 ? { type: 'stored', parentHash, blocks: out } : null;
  }

  private removed(event: VllmBlockRemoved): KvCacheEventData | null {
    if (event.medium !== null && event.medium !== 'GPU') {
      this.skipped.medium++;
      return null;
    }
    const gone: string[] = [];
    for (const hash of event.blockHashes) {
      const key = vllmHashKey(hash);
      const entry = this.blocks.get(key);
      if (!entry) continue; // a block we skipped when it was stored
      this.blocks.delete(key);
      const left = (this.refs.get(entry.sequence) ?? 1) - 1;
      if (left > 0) this.refs.set(entry.sequence, left);
      else {
        this.refs.delete(entry.sequence);
        gone.push(hashToWire(entry.sequence));
      }
    }
    return gone.length > 0 ? { type: 'removed', blockHashes: gone } : null;
  }

  private unsupported(event: VllmBlockStored): SkipReason | null {
    if (event.blockSize !== this.blockSize) return 'block-size';
    if (event.tokenIds.length !== event.blockHashes.length * this.blockSize) return 'malformed';
    if (event.loraId !== null || event.loraName !== null) return 'lora';
    if (event.extraKeys?.some((k) => k != null)) return 'extra-keys';
    if (event.medium !== null && event.medium !== 'GPU') return 'medium';
    if (event.groupIdx !== null && event.groupIdx !== 0) return 'group';
    return null;
  }
}
