/**
 * Well-known locations, resolved from this file so they work from any working directory.
 *
 * The repository is self-contained: the reference fixtures live in `fixtures/`, the request traces in
 * `traces/`, the bundled model in `models/`. The maintainers also keep a reference folder beside the checkout,
 * `../shared`, the SOURCE those copies came from; when it exists, its fixtures and traces are used too, so the
 * same tests check whatever new references are placed there. Its absence is normal (a plain clone) and never
 * an error. This file is the only place that knows about `../shared` (`self-contained.test.ts` checks it).
 *
 * Rule when a name exists in both: `../shared`'s folder wins (it is the source); the in-repo copy is listed
 * too, labelled "(repo copy)", only when its content differs, so a stale copy is caught without running every
 * identical fixture twice. Systems analogy: an overlay filesystem with the shared folder as the upper layer.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DhwError } from './errors.ts';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const defaultModelDir = join(repoRoot, 'models', 'fortune-llama');
/** The reference fixtures shipped with the repository (see fixtures/README.md for their provenance). */
export const repoFixturesDir = join(repoRoot, 'fixtures');
/** The request traces shipped with the repository (see traces/README.md). */
export const repoTracesDir = join(repoRoot, 'traces');

/** The maintainers' optional reference folder beside the checkout: a source of more fixtures and traces. */
const sharedDir = resolve(repoRoot, '..', 'shared');
const sharedFixturesDir = join(sharedDir, 'fixtures');
const sharedTracesDir = join(sharedDir, 'traces');

/** A named reference fixture that is in neither fixtures folder. */
export class FixtureNotFoundError extends DhwError {}

export interface FixtureDir {
  /** Folder name, e.g. `llama-gqa-untied`. */
  name: string;
  /** The name, or `name (repo copy)` for an in-repo copy that differs from `../shared`'s folder of that name. */
  label: string;
  /** Absolute path of the folder. */
  dir: string;
  origin: 'repo' | 'shared';
}

/**
 * Every reference fixture folder: the in-repo ones plus those of `../shared/fixtures` when it exists, by name
 * (shared wins; a differing in-repo copy is kept as well). `accept(dir, name)` filters before contents are
 * compared, e.g. "has a golden.json". Sorted by label.
 */
export function fixtureDirs(accept: (dir: string, name: string) => boolean = () => true): FixtureDir[] {
  return overlayFixtureDirs(repoFixturesDir, sharedFixturesDir, accept);
}

/** `fixtureDirs` over any two folders (exported for its test): `upper` wins by name, as `../shared` does. */
export function overlayFixtureDirs(
  lower: string,
  upper: string,
  accept: (dir: string, name: string) => boolean = () => true,
): FixtureDir[] {
  const lowerNames = subfolders(lower).filter((name) => accept(join(lower, name), name));
  const upperNames = subfolders(upper).filter((name) => accept(join(upper, name), name));
  const out: FixtureDir[] = upperNames.map((name) => ({
    name,
    label: name,
    dir: join(upper, name),
    origin: 'shared',
  }));
  for (const name of lowerNames) {
    const dir = join(lower, name);
    if (!upperNames.includes(name)) out.push({ name, label: name, dir, origin: 'repo' });
    else if (!sameTree(dir, join(upper, name)))
      out.push({ name, label: `${name} (repo copy)`, dir, origin: 'repo' });
  }
  return out.sort((a, b) => a.label.localeCompare(b.label));
}

/** One fixture folder by name: `../shared/fixtures/NAME` when it exists, else the in-repo copy. */
export function fixtureDir(name: string): string {
  const shared = join(sharedFixturesDir, name);
  if (existsSync(shared)) return shared;
  const repo = join(repoFixturesDir, name);
  if (!existsSync(repo)) {
    throw new FixtureNotFoundError(
      `Reference fixture "${name}" not found in ${repoFixturesDir}. It ships with the repository: check that ` +
        'the checkout is complete (git status) and the folder name is spelled as in fixtures/README.md.',
    );
  }
  return repo;
}

/** A trace file by name: `../shared/traces/NAME` when it exists, else `traces/NAME` (which may not exist). */
export function traceFile(name: string): string {
  const shared = join(sharedTracesDir, name);
  return existsSync(shared) ? shared : join(repoTracesDir, name);
}

/** Every `*.jsonl` trace: the in-repo ones plus those of `../shared/traces` (shared wins by name). */
export function traceFiles(): string[] {
  const names = new Set(
    [...listDir(repoTracesDir), ...listDir(sharedTracesDir)].filter((name) => name.endsWith('.jsonl')),
  );
  return [...names].sort().map(traceFile);
}

function listDir(dir: string): string[] {
  return existsSync(dir) ? readdirSync(dir) : [];
}

function subfolders(dir: string): string[] {
  return listDir(dir).filter((name) => statSync(join(dir, name)).isDirectory());
}

const sameTreeCache = new Map<string, boolean>();

/** Whether two folders hold the same files with the same bytes (recursively); memoised per pair. */
function sameTree(a: string, b: string): boolean {
  const key = `${a}\n${b}`;
  let same = sameTreeCache.get(key);
  if (same === undefined) {
    same = compareTrees(a, b);
    sameTreeCache.set(key, same);
  }
  return same;
}

function compareTrees(a: string, b: string): boolean {
  const names = readdirSync(a).sort();
  const other = readdirSync(b).sort();
  if (names.length !== other.length || names.some((name, i) => name !== other[i])) return false;
  return names.every((name) => {
    const [pa, pb] = [join(a, name), join(b, name)];
    const [sa, sb] = [statSync(pa), statSync(pb)];
    if (sa.isDirectory() || sb.isDirectory())
      return sa.isDirectory() && sb.isDirectory() && compareTrees(pa, pb);
    return sa.size === sb.size && readFileSync(pa).equals(readFileSync(pb));
  });
}
