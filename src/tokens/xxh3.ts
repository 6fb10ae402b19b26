/**
 * XXH3-64 (xxHash 0.8, `XXH3_64bits_withSeed`) in plain TypeScript: the hash behind every KV block address.
 *
 * Why our own: a block hash is computed for every 16 tokens a request carries, on the hot path of the
 * frontend, the router and the engine. A WASM hasher costs ~1.2 µs per call in crossings and copies for a
 * 64-byte block; this one does the arithmetic on 32-bit halves in registers and costs a fraction of that.
 *
 * 64-bit lanes are kept as two uint32 halves (hi, lo) because JavaScript numbers are exact only to 2^53 and
 * BigInt allocates on every operation. The helpers leave their result in the module's two "registers"
 * `rHi`/`rLo` (like a CPU's result register pair) instead of returning an object, so nothing is allocated
 * until the final value becomes a bigint.
 *
 * Layout follows xxhash.h: one function per input-length class (0, 1–3, 4–8, 9–16, 17–128, 129–240, long),
 * each a direct transcription. Checked against xxHash's published sanity vectors and against the C library.
 */

// xxHash's primes, split into 32-bit halves.
const P32_1 = 0x9e3779b1;
const P32_2 = 0x85ebca77;
const P32_3 = 0xc2b2ae3d;
const P64_1 = [0x9e3779b1, 0x85ebca87] as const;
const P64_2 = [0xc2b2ae3d, 0x27d4eb4f] as const;
const P64_3 = [0x165667b1, 0x9e3779f9] as const;
const P64_4 = [0x85ebca77, 0xc2b2ae63] as const;
const P64_5 = [0x27d4eb2f, 0x165667c5] as const;
const PRIME_MX1 = [0x16566791, 0x9e3779f9] as const;
const PRIME_MX2 = [0x9fb21c65, 0x1e98df25] as const;

/** xxHash's default 192-byte secret (`XXH3_kSecret`). */
// biome-ignore format: a byte table
const K_SECRET = new Uint8Array([
  0xb8, 0xfe, 0x6c, 0x39, 0x23, 0xa4, 0x4b, 0xbe, 0x7c, 0x01, 0x81, 0x2c, 0xf7, 0x21, 0xad, 0x1c,
  0xde, 0xd4, 0x6d, 0xe9, 0x83, 0x90, 0x97, 0xdb, 0x72, 0x40, 0xa4, 0xa4, 0xb7, 0xb3, 0x67, 0x1f,
  0xcb, 0x79, 0xe6, 0x4e, 0xcc, 0xc0, 0xe5, 0x78, 0x82, 0x5a, 0xd0, 0x7d, 0xcc, 0xff, 0x72, 0x21,
  0xb8, 0x08, 0x46, 0x74, 0xf7, 0x43, 0x24, 0x8e, 0xe0, 0x35, 0x90, 0xe6, 0x81, 0x3a, 0x26, 0x4c,
  0x3c, 0x28, 0x52, 0xbb, 0x91, 0xc3, 0x00, 0xcb, 0x88, 0xd0, 0x65, 0x8b, 0x1b, 0x53, 0x2e, 0xa3,
  0x71, 0x64, 0x48, 0x97, 0xa2, 0x0d, 0xf9, 0x4e, 0x38, 0x19, 0xef, 0x46, 0xa9, 0xde, 0xac, 0xd8,
  0xa8, 0xfa, 0x76, 0x3f, 0xe3, 0x9c, 0x34, 0x3f, 0xf9, 0xdc, 0xbb, 0xc7, 0xc7, 0x0b, 0x4f, 0x1d,
  0x8a, 0x51, 0xe0, 0x4b, 0xcd, 0xb4, 0x59, 0x31, 0xc8, 0x9f, 0x7e, 0xc9, 0xd9, 0x78, 0x73, 0x64,
  0xea, 0xc5, 0xac, 0x83, 0x34, 0xd3, 0xeb, 0xc3, 0xc5, 0x81, 0xa0, 0xff, 0xfa, 0x13, 0x63, 0xeb,
  0x17, 0x0d, 0xdd, 0x51, 0xb7, 0xf0, 0xda, 0x49, 0xd3, 0x16, 0x55, 0x26, 0x29, 0xd4, 0x68, 0x9e,
  0x2b, 0x16, 0xbe, 0x58, 0x7d, 0x47, 0xa1, 0xfc, 0x8f, 0xf8, 0xb8, 0xd1, 0x7a, 0xd0, 0x31, 0xce,
  0x45, 0xcb, 0x3a, 0x8f, 0x95, 0x16, 0x04, 0x28, 0xaf, 0xd7, 0xfb, 0xca, 0xbb, 0x4b, 0x40, 0x7e,
]);
const SECRET_SIZE = K_SECRET.length;
const SECRET_SIZE_MIN = 136;
const STRIPE_LEN = 64;
const SECRET_CONSUME_RATE = 8;
const MIDSIZE_STARTOFFSET = 3;
const MIDSIZE_LASTOFFSET = 17;
const SECRET_LASTACC_START = 7;
const SECRET_MERGEACCS_START = 11;

// The result register pair of every 64-bit helper below.
let rHi = 0;
let rLo = 0;

/** r = a + b (mod 2^64). */
function add64(aHi: number, aLo: number, bHi: number, bLo: number): void {
  const lo = aLo + bLo;
  rLo = lo >>> 0;
  rHi = (aHi + bHi + (lo > 0xffffffff ? 1 : 0)) >>> 0;
}

/** r = a - b (mod 2^64). */
function sub64(aHi: number, aLo: number, bHi: number, bLo: number): void {
  const lo = aLo - bLo;
  rLo = lo >>> 0;
  rHi = (aHi - bHi - (lo < 0 ? 1 : 0)) >>> 0;
}

/** r = a · b for uint32 a, b: the exact 64-bit product, from four 16-bit partial products. */
function mul32to64(a: number, b: number): void {
  const aH = a >>> 16;
  const aL = a & 0xffff;
  const bH = b >>> 16;
  const bL = b & 0xffff;
  const ll = aL * bL;
  const mid = aL * bH + aH * bL + (ll >>> 16); // < 2^34: exact in a double
  rLo = Math.imul(a, b) >>> 0;
  rHi = (aH * bH + Math.floor(mid / 0x10000)) >>> 0;
}

/** r = a · b (mod 2^64). */
function mul64(aHi: number, aLo: number, bHi: number, bLo: number): void {
  mul32to64(aLo, bLo);
  rHi = (rHi + Math.imul(aLo, bHi) + Math.imul(aHi, bLo)) >>> 0;
}

/** r = low64(a · b) ^ high64(a · b): XXH3's 128-bit multiply folded back to 64 bits. */
function mul128Fold64(aHi: number, aLo: number, bHi: number, bLo: number): void {
  mul32to64(aLo, bLo);
  const w0 = rLo;
  const p0Hi = rHi;
  mul32to64(aLo, bHi);
  const p1Lo = rLo;
  const p1Hi = rHi;
  mul32to64(aHi, bLo);
  const p2Lo = rLo;
  const p2Hi = rHi;
  mul32to64(aHi, bHi);
  const t1 = p0Hi + p1Lo + p2Lo; // < 3 · 2^32
  const c1 = Math.floor(t1 / 0x100000000);
  const t2 = p1Hi + p2Hi + rLo + c1;
  const c2 = Math.floor(t2 / 0x100000000);
  const w3 = (rHi + c2) >>> 0;
  rLo = (w0 ^ (t2 >>> 0)) >>> 0;
  rHi = ((t1 >>> 0) ^ w3) >>> 0;
}

function bswap32(x: number): number {
  return (((x & 0xff) << 24) | ((x & 0xff00) << 8) | ((x >>> 8) & 0xff00) | (x >>> 24)) >>> 0;
}

/** XXH3_avalanche: h ^= h >> 37; h *= PRIME_MX1; h ^= h >> 32. */
function avalanche(hi: number, lo: number): void {
  mul64(hi, (lo ^ (hi >>> 5)) >>> 0, PRIME_MX1[0], PRIME_MX1[1]);
  rLo = (rLo ^ rHi) >>> 0;
}

/** XXH64_avalanche: the xxHash64 finaliser, used by the 0–3 byte paths. */
function avalanche64(hi: number, lo: number): void {
  mul64(hi, (lo ^ (hi >>> 1)) >>> 0, P64_2[0], P64_2[1]);
  const h2Lo = (rLo ^ ((rLo >>> 29) | (rHi << 3))) >>> 0;
  const h2Hi = (rHi ^ (rHi >>> 29)) >>> 0;
  mul64(h2Hi, h2Lo, P64_3[0], P64_3[1]);
  rLo = (rLo ^ rHi) >>> 0;
}

/** XXH3_rrmxmx: the 4–8 byte finaliser, mixing in the length. */
function rrmxmx(hi: number, lo: number, len: number): void {
  // h ^= rotl64(h, 49) ^ rotl64(h, 24); rotl 49 = swap halves, then rotl 17.
  const r49Hi = ((lo << 17) | (hi >>> 15)) >>> 0;
  const r49Lo = ((hi << 17) | (lo >>> 15)) >>> 0;
  const r24Hi = ((hi << 24) | (lo >>> 8)) >>> 0;
  const r24Lo = ((lo << 24) | (hi >>> 8)) >>> 0;
  mul64((hi ^ r49Hi ^ r24Hi) >>> 0, (lo ^ r49Lo ^ r24Lo) >>> 0, PRIME_MX2[0], PRIME_MX2[1]);
  const hHi = rHi;
  const hLo = rLo;
  add64(0, hHi >>> 3, 0, len); // (h >> 35) + len
  mul64((hHi ^ rHi) >>> 0, (hLo ^ rLo) >>> 0, PRIME_MX2[0], PRIME_MX2[1]);
  rLo = (rLo ^ ((rLo >>> 28) | (rHi << 4))) >>> 0; // h ^= h >> 28
  rHi = (rHi ^ (rHi >>> 28)) >>> 0;
}

/** A 64-bit seed, and the secret the long-input path derives from it (XXH3_initCustomSecret). */
export interface Xxh3Seed {
  hi: number;
  lo: number;
  longSecret: DataView;
}

export function xxh3Seed(seed: bigint): Xxh3Seed {
  const hi = Number((seed >> 32n) & 0xffffffffn);
  const lo = Number(seed & 0xffffffffn);
  const kSecret = new DataView(K_SECRET.buffer);
  const custom = new DataView(new ArrayBuffer(SECRET_SIZE));
  for (let i = 0; i < SECRET_SIZE; i += 16) {
    add64(kSecret.getUint32(i + 4, true), kSecret.getUint32(i, true), hi, lo);
    custom.setUint32(i, rLo, true);
    custom.setUint32(i + 4, rHi, true);
    sub64(kSecret.getUint32(i + 12, true), kSecret.getUint32(i + 8, true), hi, lo);
    custom.setUint32(i + 8, rLo, true);
    custom.setUint32(i + 12, rHi, true);
  }
  return { hi, lo, longSecret: custom };
}

const SECRET = new DataView(K_SECRET.buffer);
const secretLo = (at: number) => SECRET.getUint32(at, true);
const secretHi = (at: number) => SECRET.getUint32(at + 4, true);

function len0(seed: Xxh3Seed): void {
  avalanche64((seed.hi ^ secretHi(56) ^ secretHi(64)) >>> 0, (seed.lo ^ secretLo(56) ^ secretLo(64)) >>> 0);
}

function len1to3(input: DataView, at: number, len: number, seed: Xxh3Seed): void {
  const c1 = input.getUint8(at);
  const c2 = input.getUint8(at + (len >>> 1));
  const c3 = input.getUint8(at + len - 1);
  const combined = ((c1 << 16) | (c2 << 24) | c3 | (len << 8)) >>> 0;
  add64(0, (secretLo(0) ^ secretLo(4)) >>> 0, seed.hi, seed.lo); // bitflip
  avalanche64(rHi, (rLo ^ combined) >>> 0);
}

function len4to8(input: DataView, at: number, len: number, seed: Xxh3Seed): void {
  const seedHi = (seed.hi ^ bswap32(seed.lo)) >>> 0;
  const input1 = input.getUint32(at, true);
  const input2 = input.getUint32(at + len - 4, true);
  sub64((secretHi(8) ^ secretHi(16)) >>> 0, (secretLo(8) ^ secretLo(16)) >>> 0, seedHi, seed.lo); // bitflip
  rrmxmx((input1 ^ rHi) >>> 0, (input2 ^ rLo) >>> 0, len);
}

function len9to16(input: DataView, at: number, len: number, seed: Xxh3Seed): void {
  add64((secretHi(24) ^ secretHi(32)) >>> 0, (secretLo(24) ^ secretLo(32)) >>> 0, seed.hi, seed.lo);
  const inLoHi = (input.getUint32(at + 4, true) ^ rHi) >>> 0;
  const inLoLo = (input.getUint32(at, true) ^ rLo) >>> 0;
  sub64((secretHi(40) ^ secretHi(48)) >>> 0, (secretLo(40) ^ secretLo(48)) >>> 0, seed.hi, seed.lo);
  const inHiHi = (input.getUint32(at + len - 4, true) ^ rHi) >>> 0;
  const inHiLo = (input.getUint32(at + len - 8, true) ^ rLo) >>> 0;
  // acc = len + swap64(input_lo) + input_hi + mul128_fold64(input_lo, input_hi)
  mul128Fold64(inLoHi, inLoLo, inHiHi, inHiLo);
  add64(rHi, rLo, inHiHi, inHiLo);
  add64(rHi, rLo, bswap32(inLoLo), bswap32(inLoHi));
  add64(rHi, rLo, 0, len);
  avalanche(rHi, rLo);
}

/** XXH3_mix16B: 16 input bytes keyed by 16 secret bytes and the seed, folded to 64 bits. */
function mix16B(input: DataView, at: number, secretAt: number, seed: Xxh3Seed): void {
  add64(secretHi(secretAt), secretLo(secretAt), seed.hi, seed.lo);
  const aHi = (input.getUint32(at + 4, true) ^ rHi) >>> 0;
  const aLo = (input.getUint32(at, true) ^ rLo) >>> 0;
  sub64(secretHi(secretAt + 8), secretLo(secretAt + 8), seed.hi, seed.lo);
  mul128Fold64(
    aHi,
    aLo,
    (input.getUint32(at + 12, true) ^ rHi) >>> 0,
    (input.getUint32(at + 8, true) ^ rLo) >>> 0,
  );
}

// The running sum of the 17–240 byte paths (a register pair of its own: mix16B overwrites r).
let accHi = 0;
let accLo = 0;

function accumulateMix(input: DataView, at: number, secretAt: number, seed: Xxh3Seed): void {
  mix16B(input, at, secretAt, seed);
  add64(accHi, accLo, rHi, rLo);
  accHi = rHi;
  accLo = rLo;
}

function len17to128(input: DataView, at: number, len: number, seed: Xxh3Seed): void {
  mul64(0, len, P64_1[0], P64_1[1]);
  accHi = rHi;
  accLo = rLo;
  if (len > 32) {
    if (len > 64) {
      if (len > 96) {
        accumulateMix(input, at + 48, 96, seed);
        accumulateMix(input, at + len - 64, 112, seed);
      }
      accumulateMix(input, at + 32, 64, seed);
      accumulateMix(input, at + len - 48, 80, seed);
    }
    accumulateMix(input, at + 16, 32, seed);
    accumulateMix(input, at + len - 32, 48, seed);
  }
  accumulateMix(input, at, 0, seed);
  accumulateMix(input, at + len - 16, 16, seed);
  avalanche(accHi, accLo);
}

function len129to240(input: DataView, at: number, len: number, seed: Xxh3Seed): void {
  mul64(0, len, P64_1[0], P64_1[1]);
  accHi = rHi;
  accLo = rLo;
  for (let i = 0; i < 8; i++) accumulateMix(input, at + 16 * i, 16 * i, seed);
  avalanche(accHi, accLo);
  const firstHi = rHi;
  const firstLo = rLo;
  // acc_end: the last 16 bytes, then every round past the eighth.
  accHi = 0;
  accLo = 0;
  accumulateMix(input, at + len - 16, SECRET_SIZE_MIN - MIDSIZE_LASTOFFSET, seed);
  const rounds = Math.floor(len / 16);
  for (let i = 8; i < rounds; i++) {
    accumulateMix(input, at + 16 * i, 16 * (i - 8) + MIDSIZE_STARTOFFSET, seed);
  }
  add64(firstHi, firstLo, accHi, accLo);
  avalanche(rHi, rLo);
}

// The eight accumulator lanes of the long-input path, as (hi, lo) pairs: lane i at [2i, 2i + 1].
const lanes = new Uint32Array(16);
/** Their start: PRIME32_3, PRIME64_1, PRIME64_2, PRIME64_3, PRIME64_4, PRIME32_2, PRIME64_5, PRIME32_1. */
// biome-ignore format: (hi, lo) pairs
const LANES_INIT = new Uint32Array([
  0, P32_3, ...P64_1, ...P64_2, ...P64_3, ...P64_4, 0, P32_2, ...P64_5, 0, P32_1,
]);

/** XXH3_accumulate_512: one 64-byte stripe into the eight lanes (the hot loop of long inputs, kept inline). */
function accumulateStripe(input: DataView, at: number, secret: DataView, secretAt: number): void {
  for (let i = 0; i < 8; i++) {
    const valLo = input.getUint32(at + 8 * i, true);
    const valHi = input.getUint32(at + 8 * i + 4, true);
    const keyLo = (valLo ^ secret.getUint32(secretAt + 8 * i, true)) >>> 0;
    const keyHi = (valHi ^ secret.getUint32(secretAt + 8 * i + 4, true)) >>> 0;
    // acc[i ^ 1] += data_val
    const swapped = 2 * (i ^ 1);
    const sumLo = lanes[swapped + 1]! + valLo;
    lanes[swapped + 1] = sumLo;
    lanes[swapped] = lanes[swapped]! + valHi + (sumLo > 0xffffffff ? 1 : 0);
    // acc[i] += lo32(key) · hi32(key)
    mul32to64(keyLo, keyHi);
    const prodLo = lanes[2 * i + 1]! + rLo;
    lanes[2 * i + 1] = prodLo;
    lanes[2 * i] = lanes[2 * i]! + rHi + (prodLo > 0xffffffff ? 1 : 0);
  }
}

/** XXH3_scrambleAcc: acc = (acc ^ (acc >> 47) ^ key) · PRIME32_1, once per 1 KiB block. */
function scrambleLanes(secret: DataView, secretAt: number): void {
  for (let i = 0; i < 8; i++) {
    const hi = lanes[2 * i]!;
    const lo = lanes[2 * i + 1]!;
    mul64(
      (hi ^ secret.getUint32(secretAt + 8 * i + 4, true)) >>> 0,
      (lo ^ (hi >>> 15) ^ secret.getUint32(secretAt + 8 * i, true)) >>> 0,
      0,
      P32_1,
    );
    lanes[2 * i] = rHi;
    lanes[2 * i + 1] = rLo;
  }
}

function hashLong(input: DataView, at: number, len: number, seed: Xxh3Seed): void {
  const secret = seed.longSecret;
  lanes.set(LANES_INIT);
  const stripesPerBlock = (SECRET_SIZE - STRIPE_LEN) / SECRET_CONSUME_RATE;
  const blockLen = STRIPE_LEN * stripesPerBlock;
  const blocks = Math.floor((len - 1) / blockLen);
  for (let n = 0; n < blocks; n++) {
    for (let s = 0; s < stripesPerBlock; s++) {
      accumulateStripe(input, at + n * blockLen + s * STRIPE_LEN, secret, s * SECRET_CONSUME_RATE);
    }
    scrambleLanes(secret, SECRET_SIZE - STRIPE_LEN);
  }
  const lastStripes = Math.floor((len - 1 - blockLen * blocks) / STRIPE_LEN);
  for (let s = 0; s < lastStripes; s++) {
    accumulateStripe(input, at + blocks * blockLen + s * STRIPE_LEN, secret, s * SECRET_CONSUME_RATE);
  }
  accumulateStripe(input, at + len - STRIPE_LEN, secret, SECRET_SIZE - STRIPE_LEN - SECRET_LASTACC_START);
  // XXH3_mergeAccs
  mul64(0, len, P64_1[0], P64_1[1]);
  let sumHi = rHi;
  let sumLo = rLo;
  for (let i = 0; i < 4; i++) {
    const k = SECRET_MERGEACCS_START + 16 * i;
    mul128Fold64(
      (lanes[4 * i]! ^ secret.getUint32(k + 4, true)) >>> 0,
      (lanes[4 * i + 1]! ^ secret.getUint32(k, true)) >>> 0,
      (lanes[4 * i + 2]! ^ secret.getUint32(k + 12, true)) >>> 0,
      (lanes[4 * i + 3]! ^ secret.getUint32(k + 8, true)) >>> 0,
    );
    add64(sumHi, sumLo, rHi, rLo);
    sumHi = rHi;
    sumLo = rLo;
  }
  avalanche(sumHi, sumLo);
}

// Where a 64-bit result becomes a bigint: one allocation per hash.
const out = new DataView(new ArrayBuffer(8));

/** XXH3-64 with `seed` of `len` bytes of `input` starting at byte `at`, as an unsigned bigint. */
export function xxh3(input: DataView, at: number, len: number, seed: Xxh3Seed): bigint {
  if (len > 240) hashLong(input, at, len, seed);
  else if (len > 128) len129to240(input, at, len, seed);
  else if (len > 16) len17to128(input, at, len, seed);
  else if (len > 8) len9to16(input, at, len, seed);
  else if (len >= 4) len4to8(input, at, len, seed);
  else if (len > 0) len1to3(input, at, len, seed);
  else len0(seed);
  out.setUint32(0, rLo, true);
  out.setUint32(4, rHi, true);
  return out.getBigUint64(0, true);
}
