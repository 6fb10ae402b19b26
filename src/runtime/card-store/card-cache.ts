/**
 * The frontend's local copy of model card files, like a package manager's content cache: one folder per
 * card, `{cacheDir}/{bucket}/{mdcsum hex}/{file}`, filled from the object store and verified file by file
 * against the card's checksums. A folder is only ever reused after its files hash right again, so a
 * truncated or edited cache file is fetched anew instead of served. Files land by write-to-temp +
 * rename, so two frontends sharing a cache dir never read a half-written file.
 * (Dynamo's frontend downloads into a fresh temp dir per card, deleted on exit; its newer cache is
 * `~/.cache/dynamo/mdc/by-slug/{slug}/{mdcsum}/`.)
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CardFile, CardFileName, ObjectStoreSource } from '../../protocols/discovery.ts';
import { cardChecksum, sha256Checksum } from './card-files.ts';
import { CardChecksumError } from './errors.ts';

/** Where a frontend caches card files unless told otherwise (`--model-cache-dir`). */
export function defaultCardCacheDir(): string {
  return join(tmpdir(), 'dhw-model-cards');
}

/** Where card files come from (NatsCardStore, or anything that can hand out a file's bytes). */
export interface CardFileSource {
  fetch(bucket: string, name: CardFileName): Promise<Uint8Array>;
}

export interface MaterializedCard {
  /** Folder holding the card's files, readable like a model folder (tokenizer.json, ...). */
  dir: string;
  fetched: CardFileName[];
  /** Already in the cache with the right checksum. */
  cached: CardFileName[];
}

/** The folder of one card inside a cache dir. */
export function cardCacheDir(cacheDir: string, source: ObjectStoreSource): string {
  return join(cacheDir, source.bucket, source.mdcsum.replace(/^sha256:/, ''));
}

async function cachedChecksum(path: string): Promise<string | undefined> {
  try {
    return sha256Checksum(await readFile(path));
  } catch {
    return undefined;
  }
}

function mismatch(
  model: string,
  source: ObjectStoreSource,
  file: CardFile,
  actual: string,
): CardChecksumError {
  return new CardChecksumError(
    `${file.name} of model '${model}' in object store bucket '${source.bucket}' hashes to ${actual}, but the ` +
      `model card says ${file.checksum}: the bucket now holds other files (a worker with different files ` +
      'registered under the same model name) or was altered. Serve different files under a different ' +
      '--served-model-name, or restart the workers of this model so they upload their files again',
  );
}

/**
 * Make the card's files present and verified under `cacheDir`; fetch only what is missing or wrong.
 * Throws CardChecksumError (the card is inconsistent, or a fetched file does not match it) or the
 * source's own errors (file missing, store unreachable).
 */
export async function materializeCard(
  model: string,
  source: ObjectStoreSource,
  store: CardFileSource,
  cacheDir: string,
): Promise<MaterializedCard> {
  const expected = cardChecksum(model, source.files);
  if (expected !== source.mdcsum) {
    throw new CardChecksumError(
      `the model card of '${model}' is inconsistent: its files hash to mdcsum ${expected}, the card says ` +
        `${source.mdcsum}. It was written by hand or by another version; restart the worker to rewrite it`,
    );
  }
  const dir = cardCacheDir(cacheDir, source);
  await mkdir(dir, { recursive: true });
  const result: MaterializedCard = { dir, fetched: [], cached: [] };
  for (const file of source.files) {
    const path = join(dir, file.name);
    if ((await cachedChecksum(path)) === file.checksum) {
      result.cached.push(file.name);
      continue;
    }
    const bytes = await store.fetch(source.bucket, file.name);
    const actual = sha256Checksum(bytes);
    if (actual !== file.checksum) throw mismatch(model, source, file, actual);
    const tmp = `${path}.tmp.${process.pid}.${randomBytes(4).toString('hex')}`;
    try {
      await writeFile(tmp, bytes);
      await rename(tmp, path);
    } finally {
      await rm(tmp, { force: true });
    }
    result.fetched.push(file.name);
  }
  return result;
}
