/**
 * Well-known locations, resolved from this file so they work from any working directory.
 * `sharedDir` is the read-only reference folder beside the project (fixtures, traces, docs).
 */
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const defaultModelDir = join(repoRoot, 'models', 'fortune-llama');
export const sharedDir = resolve(repoRoot, '..', 'shared');
export const fixturesDir = join(sharedDir, 'fixtures');

/** The fixtures folder, or an error telling the reader where it was expected. */
export function requireFixturesDir(): string {
  if (!existsSync(fixturesDir)) {
    throw new Error(
      `Reference fixtures not found at ${fixturesDir}. They live in the read-only shared/ folder beside the ` +
        'project checkout; clone the project next to it.',
    );
  }
  return fixturesDir;
}
