/**
 * Byte sizes as people write them on a command line (`--kv-cache-memory 512MiB`), Kubernetes-style:
 * `K M G T` (with or without `B`) are powers of 1000, `Ki Mi Gi Ti` (with or without `B`) powers of 1024,
 * a bare number (`1e9`, `1048576`) is bytes. Case of the unit letters is ignored; fractional bytes round down.
 */
import { KvConfigError } from './errors.ts';

const UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  k: 1e3,
  kb: 1e3,
  m: 1e6,
  mb: 1e6,
  g: 1e9,
  gb: 1e9,
  t: 1e12,
  tb: 1e12,
  ki: 2 ** 10,
  kib: 2 ** 10,
  mi: 2 ** 20,
  mib: 2 ** 20,
  gi: 2 ** 30,
  gib: 2 ** 30,
  ti: 2 ** 40,
  tib: 2 ** 40,
};

const SIZE_PATTERN = /^\s*(\d+(?:\.\d*)?(?:e[+-]?\d+)?|\.\d+(?:e[+-]?\d+)?)\s*([a-z]*)\s*$/i;

/** Bytes in `text` ("512MiB", "1GiB", "1e9", "800MB"). Throws KvConfigError naming the accepted forms. */
export function parseByteSize(text: string): number {
  const match = SIZE_PATTERN.exec(text);
  const factor = match ? UNITS[match[2]!.toLowerCase()] : undefined;
  if (!match || factor === undefined) {
    throw new KvConfigError(
      `cannot read ${JSON.stringify(text)} as a byte size: write a number with an optional unit, ` +
        'e.g. 512MiB, 1GiB, 800MB, 1e9 (K/M/G/T = 1000^n, Ki/Mi/Gi/Ti = 1024^n)',
    );
  }
  const bytes = Math.floor(Number(match[1]) * factor);
  if (!Number.isSafeInteger(bytes)) {
    throw new KvConfigError(
      `byte size ${JSON.stringify(text)} is too large (max ${Number.MAX_SAFE_INTEGER} bytes)`,
    );
  }
  return bytes;
}
