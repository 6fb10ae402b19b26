/**
 * The files of a model deployment card and their checksums, like a package manifest with a sha256 per file:
 * what a worker reads from its model folder, uploads, and names in its card; what a frontend verifies
 * after a fetch. Pure functions over bytes: no NATS, no discovery.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CARD_FILE_NAMES, type CardFile, type CardFileName } from '../../protocols/discovery.ts';
import { CardFilesError } from './errors.ts';

/** A card file with its bytes (what gets uploaded). */
export interface CardFileData extends CardFile {
  bytes: Uint8Array;
}

/** `sha256:<hex>` of some bytes. */
export function sha256Checksum(bytes: Uint8Array): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

/**
 * The card's own checksum (Dynamo's `mdcsum`): the display name plus each file's name and checksum, in
 * name order. Two workers with the same name and the same files agree on it wherever their folders live.
 */
export function cardChecksum(displayName: string, files: readonly CardFile[]): string {
  const hash = createHash('sha256').update(displayName).update('\n');
  const sorted = [...files].sort((a, b) => a.name.localeCompare(b.name));
  for (const file of sorted) hash.update(`${file.name} ${file.checksum}\n`);
  return `sha256:${hash.digest('hex')}`;
}

/**
 * Dynamo's slug of a model name, used as the bucket name: lower case, anything outside [a-z0-9_-] becomes
 * `_`. When something had to be replaced, a short hash of the original name keeps "Org/Model" and
 * "org_model" in different buckets.
 */
export function cardBucketName(displayName: string): string {
  const slug = displayName.toLowerCase().replace(/[^a-z0-9_-]/g, '_');
  if (slug === displayName) return slug;
  const tag = createHash('sha256').update(displayName).digest('hex').slice(0, 8);
  return `${slug}_${tag}`;
}

async function readIfPresent(path: string): Promise<Uint8Array | undefined> {
  try {
    return await readFile(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new CardFilesError(`cannot read ${path}: ${(err as Error).message}; check file permissions`, {
      cause: err,
    });
  }
}

/** The card files a model folder has (tokenizer.json is required), each with its checksum. */
export async function readCardFiles(modelDir: string): Promise<CardFileData[]> {
  const files: CardFileData[] = [];
  for (const name of CARD_FILE_NAMES) {
    const bytes = await readIfPresent(join(modelDir, name));
    if (bytes !== undefined) files.push(describeBytes(name, bytes));
  }
  if (!files.some((f) => f.name === 'tokenizer.json')) {
    throw new CardFilesError(
      `${join(modelDir, 'tokenizer.json')} not found: a model card needs the model's tokenizer.json ` +
        '(point the worker at a Hugging Face checkpoint folder)',
    );
  }
  return files;
}

export function describeBytes(name: CardFileName, bytes: Uint8Array): CardFileData {
  return { name, checksum: sha256Checksum(bytes), size: bytes.byteLength, bytes };
}

/** The manifest entry of a file (what goes into the card), without its bytes. */
export function cardFileEntry({ name, checksum, size }: CardFile): CardFile {
  return { name, checksum, size };
}
