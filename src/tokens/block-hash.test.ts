import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createXXHash3 } from 'hash-wasm';
import {
  appendBlockHashes,
  type BlockHashes,
  chainBlockHash,
  computeBlockHashes,
  createXxh3,
  hashBlockTokens,
  xxh3Seeded,
} from './block-hash.ts';

const PRIME32 = 2654435761n;
const PRIME64 = 11400714785074694797n;

/** xxHash's sanity buffer (cli/xsum_sanity_check.c): byte i = top byte of PRIME32 · PRIME64^i mod 2^64. */
function sanityBuffer(length: number): Uint8Array {
  const buffer = new Uint8Array(length);
  let gen = PRIME32;
  for (let i = 0; i < length; i++) {
    buffer[i] = Number(gen >> 56n);
    gen = (gen * PRIME64) & 0xffffffffffffffffn;
  }
  return buffer;
}

// XXH3_64bits_withSeed vectors from xxHash's sanity check table (XSUM_XXH3_testdata): [length, seed, hash].
// One per length class of the algorithm (1-3, 4-8, 9-16, 17-128, 129-240, long), both seeds.
const PUBLISHED_VECTORS: [number, bigint, bigint][] = [
  [0, 0n, 0x2d06800538d394c2n],
  [0, PRIME64, 0xa8a6b918b2f0364an],
  [1, 0n, 0xc44bdff4074eecdbn],
  [1, PRIME64, 0x032be332dd766ef8n],
  [6, 0n, 0x27b56a84cd2d7325n],
  [6, PRIME64, 0x84589c116ab59ab9n],
  [12, 0n, 0xa713daf0dfbb77e7n],
  [12, PRIME64, 0xe7303e1b2336de0en],
  [24, 0n, 0xa3fe70bf9d3510ebn],
  [24, PRIME64, 0x850e80fc35bdd690n],
  [48, 0n, 0x397da259ecba1f11n],
  [48, PRIME64, 0xadc2cbaa44acc616n],
  [80, 0n, 0xbcdefbbb2c47c90an],
  [80, PRIME64, 0xc6dd0cb699532e73n],
  [195, 0n, 0xcd94217ee362ec3an],
  [195, PRIME64, 0xba68003d370cb3d9n],
  [403, 0n, 0xcdeb804d65c6dea4n],
  [403, PRIME64, 0x6259f6ecfd6443fdn],
  [2048, PRIME64, 0x66f81670669ababcn],
  [2367, PRIME64, 0xd2db3415b942b42an],
];

// Seed-1337 block hashes computed independently with the system's C libxxhash 0.8.1
// (XXH3_64bits_withSeed through Python ctypes, token ids packed with struct '<16I', pairs with '<QQ').
const TOKENS_100_TO_147 = Array.from({ length: 48 }, (_, i) => 100 + i);
const LIBXXHASH_LOCAL = [10823191264391160519n, 1219978239041041138n, 11579058346470406089n];
const LIBXXHASH_SEQUENCE = [10823191264391160519n, 4102179227871607950n, 18410735291254320318n];
// 64 tokens = 256 bytes: exercises XXH3's long-input path (> 240 bytes), and ids above 2^31.
const TOKENS_64_LARGE = Array.from({ length: 64 }, (_, i) => Number((BigInt(i) * PRIME32) & 0xffffffffn));
const LIBXXHASH_LOCAL_64 = 13815553331808045002n;

describe('XXH3-64', () => {
  it('matches the published xxHash sanity vectors for seeds 0 and PRIME64', () => {
    const buffer = sanityBuffer(4096 + 64 + 1);
    for (const [length, seed, expected] of PUBLISHED_VECTORS) {
      const actual = createXxh3(seed)(buffer.subarray(0, length));
      assert.equal(actual, expected, `len ${length} seed ${seed}: got 0x${actual.toString(16)}`);
    }
  });

  it('agrees with an independent implementation (hash-wasm, xxHash C in WASM) on every length class', async () => {
    const buffer = sanityBuffer(3000);
    for (const seed of [0n, 1337n, PRIME64, 0xffffffffffffffffn]) {
      const reference = await createXXHash3(Number(seed & 0xffffffffn), Number(seed >> 32n));
      const ours = createXxh3(seed);
      // Every length to 300 bytes (all the short classes and the long path's first stripes), then past
      // several 1 KiB blocks; at offsets 0 and 3 (unaligned reads).
      for (let length = 0; length <= 2600; length += length < 300 ? 1 : 97) {
        for (const offset of [0, 3]) {
          const bytes = buffer.subarray(offset, offset + length);
          const digest = reference.init().update(bytes).digest('binary');
          const expected = new DataView(digest.buffer, digest.byteOffset, 8).getBigUint64(0, false);
          assert.equal(ours(bytes), expected, `len ${length} offset ${offset} seed ${seed}`);
        }
      }
    }
  });

  it('hashes subarrays of a larger buffer by their own bytes only', () => {
    const buffer = sanityBuffer(64);
    assert.equal(xxh3Seeded(buffer.subarray(8, 40)), xxh3Seeded(buffer.slice(8, 40)));
  });
});

describe('block hashes (seed 1337)', () => {
  it('local hashes match libxxhash over LE u32 token ids', () => {
    for (let i = 0; i < 3; i++) {
      assert.equal(hashBlockTokens(TOKENS_100_TO_147, i * 16, 16), LIBXXHASH_LOCAL[i]);
    }
    assert.equal(hashBlockTokens(TOKENS_64_LARGE, 0, 64), LIBXXHASH_LOCAL_64);
  });

  it('chains sequence hashes as XXH3(LE u64 parent ‖ LE u64 local), matching libxxhash', () => {
    const { local, sequence } = computeBlockHashes(TOKENS_100_TO_147, 16);
    assert.deepEqual(local, LIBXXHASH_LOCAL);
    assert.deepEqual(sequence, LIBXXHASH_SEQUENCE);
    assert.equal(sequence[0], local[0]);
    // the chain step, spelled out by hand
    const pair = new DataView(new ArrayBuffer(16));
    pair.setBigUint64(0, sequence[0]!, true);
    pair.setBigUint64(8, local[1]!, true);
    assert.equal(xxh3Seeded(new Uint8Array(pair.buffer)), sequence[1]);
    assert.equal(chainBlockHash(sequence[1]!, local[2]!), sequence[2]);
  });

  it('hashes only full blocks', () => {
    assert.equal(computeBlockHashes(TOKENS_100_TO_147.slice(0, 47), 16).sequence.length, 2);
    assert.equal(computeBlockHashes(TOKENS_100_TO_147.slice(0, 15), 16).sequence.length, 0);
    assert.equal(computeBlockHashes(TOKENS_100_TO_147, 16, 1).sequence.length, 1);
  });

  it('same block content at another position: same local hash, different sequence hash', () => {
    const block = [7, 7, 7, 7];
    const a = computeBlockHashes([...block, ...block], 4);
    const b = computeBlockHashes([1, 2, 3, 4, ...block], 4);
    assert.equal(a.local[0], a.local[1]);
    assert.equal(a.local[1], b.local[1]);
    assert.notEqual(a.sequence[1], b.sequence[1]);
  });

  it('a shared prefix gives shared sequence hashes up to the first differing block', () => {
    const base = Array.from({ length: 32 }, (_, i) => i);
    const other = [...base];
    other[20] = 999; // inside block 2 (of size 8)
    const a = computeBlockHashes(base, 8).sequence;
    const b = computeBlockHashes(other, 8).sequence;
    assert.deepEqual(a.slice(0, 2), b.slice(0, 2));
    assert.notEqual(a[2], b[2]);
    assert.notEqual(a[3], b[3]); // block 3's tokens are equal, but its prefix is not
  });

  it('accepts typed arrays and plain arrays alike', () => {
    const ids = Int32Array.from(TOKENS_100_TO_147);
    assert.deepEqual(computeBlockHashes(ids, 16).sequence, LIBXXHASH_SEQUENCE);
  });
});

describe('appendBlockHashes', () => {
  it('extends hashes as the list grows, equal to a fresh computation, each block hashed once', () => {
    const tokens = Array.from({ length: 70 }, (_, i) => (i * 31 + 7) % 500);
    const hashes: BlockHashes = { local: [], sequence: [] };
    assert.equal(appendBlockHashes(hashes, tokens, 16), 4);
    assert.deepEqual(hashes, computeBlockHashes(tokens, 16));
    const firstFour = [...hashes.sequence];
    // The request grows (decode): later blocks extend the chain, earlier ones are kept as they are.
    const longer = [...tokens];
    let added = 0;
    for (let i = 1; i <= 26; i++) {
      longer.push(i);
      added += appendBlockHashes(hashes, longer, 16);
      assert.equal(hashes.sequence.length, Math.floor(longer.length / 16), `after ${longer.length} tokens`);
    }
    assert.equal(added, 2);
    assert.deepEqual(hashes, computeBlockHashes(longer, 16));
    assert.deepEqual(hashes.sequence.slice(0, 4), firstFour);
    assert.equal(appendBlockHashes(hashes, longer, 16), 0, 'nothing new: nothing hashed');
  });

  it('stops at maxBlocks and resumes from there', () => {
    const hashes: BlockHashes = { local: [], sequence: [] };
    assert.equal(appendBlockHashes(hashes, TOKENS_100_TO_147, 16, 1), 1);
    assert.equal(appendBlockHashes(hashes, TOKENS_100_TO_147, 16), 2);
    assert.deepEqual(hashes.sequence, LIBXXHASH_SEQUENCE);
  });
});
