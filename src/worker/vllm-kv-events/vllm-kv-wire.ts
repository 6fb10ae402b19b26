/**
 * vLLM's KV event wire format (vllm/distributed/kv_events.py), decoded from msgpack. vLLM encodes
 * msgspec structs: `KVEventBatch {ts, events, data_parallel_rank}` holding tagged `BlockStored`,
 * `BlockRemoved` and `AllBlocksCleared` events. Releases up to 0.11 declare them `array_like=True` (a struct
 * is an array of its fields in declaration order, a tagged one starts with its class name, trailing
 * defaults omitted); later releases dropped array_like, so a struct is a map and the tag is its "type"
 * key. Both decode here, like a parser that accepts both versions of a protocol.
 *
 *   BlockStored    [tag, block_hashes, parent_block_hash, token_ids, block_size, lora_id, medium,
 *                   lora_name, extra_keys, group_idx, kv_cache_spec_kind, kv_cache_spec_sliding_window]
 *   BlockRemoved   [tag, block_hashes, medium, group_idx]
 *   AllBlocksCleared [tag]
 *
 * Block hashes are `ExternalBlockHash = bytes | int`: a u64 by default (VLLM_KV_EVENTS_USE_INT_BLOCK_HASHES,
 * the low 64 bits of vLLM's sha256 block hash), the raw hash bytes otherwise.
 */
import { decode } from '@msgpack/msgpack';
import { DhwError } from '../../util/errors.ts';

/** A vLLM block hash: a u64 (as bigint) or the hash's bytes. */
export type VllmBlockHash = bigint | Uint8Array;

export interface VllmBlockStored {
  type: 'BlockStored';
  blockHashes: VllmBlockHash[];
  parentBlockHash: VllmBlockHash | null;
  /** The tokens of all `blockHashes` blocks, `blockSize` each, in order. */
  tokenIds: number[];
  blockSize: number;
  loraId: number | null;
  /** "GPU" (or null: older releases) for the device cache; "CPU"/others for offload tiers. */
  medium: string | null;
  loraName: string | null;
  /** Per block: multimodal hashes, LoRA name, cache salt... that went into vLLM's hash besides the tokens. */
  extraKeys: unknown[] | null;
  groupIdx: number | null;
}

export interface VllmBlockRemoved {
  type: 'BlockRemoved';
  blockHashes: VllmBlockHash[];
  medium: string | null;
  groupIdx: number | null;
}

export interface VllmAllBlocksCleared {
  type: 'AllBlocksCleared';
}

export type VllmKvEvent = VllmBlockStored | VllmBlockRemoved | VllmAllBlocksCleared;

export interface VllmEventBatch {
  ts: number;
  events: VllmKvEvent[];
  dataParallelRank: number | null;
}

/** A payload that is not a vLLM KVEventBatch. */
export class VllmWireError extends DhwError {}

/** Decode one KVEventBatch payload (the third frame of a PUB message, or the second of a replay reply). */
export function decodeVllmEventBatch(payload: Uint8Array): VllmEventBatch {
  let raw: unknown;
  try {
    raw = decode(payload, { useBigInt64: true });
  } catch (cause) {
    throw new VllmWireError(`KV event payload is not msgpack (${(cause as Error).message})`, { cause });
  }
  const fields = Array.isArray(raw)
    ? { ts: raw[0], events: raw[1], data_parallel_rank: raw[2] }
    : (raw as Record<string, unknown> | null);
  if (!fields || typeof fields !== 'object' || !Array.isArray(fields.events)) {
    throw new VllmWireError('KV event payload is not a KVEventBatch [ts, events, data_parallel_rank?]');
  }
  return {
    ts: Number(fields.ts),
    events: fields.events.map(decodeEvent),
    dataParallelRank: optionalNumber(fields.data_parallel_rank),
  };
}

/** Positional names of each tagged struct's fields after the tag (declaration order in kv_events.py). */
const FIELDS = {
  BlockStored: [
    'block_hashes',
    'parent_block_hash',
    'token_ids',
    'block_size',
    'lora_id',
    'medium',
    'lora_name',
    'extra_keys',
    'group_idx',
  ],
  BlockRemoved: ['block_hashes', 'medium', 'group_idx'],
  AllBlocksCleared: [],
} as const;

function decodeEvent(raw: unknown): VllmKvEvent {
  const tag: unknown = Array.isArray(raw) ? raw[0] : (raw as Record<string, unknown> | null)?.type;
  if (tag !== 'BlockStored' && tag !== 'BlockRemoved' && tag !== 'AllBlocksCleared') {
    throw new VllmWireError(`unknown KV event tag ${JSON.stringify(String(tag))}`);
  }
  const f: Record<string, unknown> = {};
  if (Array.isArray(raw)) {
    FIELDS[tag].forEach((name: string, i: number) => {
      f[name] = raw[i + 1];
    });
  } else Object.assign(f, raw);
  if (tag === 'AllBlocksCleared') return { type: tag };
  if (tag === 'BlockRemoved') {
    return {
      type: tag,
      blockHashes: hashList(f.block_hashes),
      medium: optionalString(f.medium),
      groupIdx: optionalNumber(f.group_idx),
    };
  }
  if (!Array.isArray(f.token_ids)) throw new VllmWireError('BlockStored without token_ids');
  return {
    type: tag,
    blockHashes: hashList(f.block_hashes),
    parentBlockHash: f.parent_block_hash == null ? null : blockHash(f.parent_block_hash),
    tokenIds: f.token_ids.map(Number),
    blockSize: Number(f.block_size),
    loraId: optionalNumber(f.lora_id),
    medium: optionalString(f.medium),
    loraName: optionalString(f.lora_name),
    extraKeys: Array.isArray(f.extra_keys) ? f.extra_keys : null,
    groupIdx: optionalNumber(f.group_idx),
  };
}

function hashList(value: unknown): VllmBlockHash[] {
  if (!Array.isArray(value)) throw new VllmWireError('block_hashes is not a list');
  return value.map(blockHash);
}

function blockHash(value: unknown): VllmBlockHash {
  if (value instanceof Uint8Array) return value;
  if (typeof value === 'bigint') return BigInt.asUintN(64, value);
  if (typeof value === 'number' && Number.isInteger(value)) return BigInt.asUintN(64, BigInt(value));
  throw new VllmWireError(`block hash ${String(value)} is neither an int nor bytes`);
}

/** A stable map key for a vLLM hash: decimal for ints, `0x` + hex for bytes. */
export function vllmHashKey(hash: VllmBlockHash): string {
  return typeof hash === 'bigint' ? hash.toString(10) : `0x${Buffer.from(hash).toString('hex')}`;
}

function optionalNumber(value: unknown): number | null {
  return value == null ? null : Number(value);
}

function optionalString(value: unknown): string | null {
  return typeof value === 'string' ? value : null;
}
