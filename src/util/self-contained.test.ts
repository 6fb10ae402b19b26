/**
 * The repository must work as a plain clone: no code may reach for the maintainers' reference folder beside
 * the checkout, and no comment or page may send a reader to their design notes, which users do not have.
 *
 *   code (.ts .mjs .js .cjs under src/ labs/ bench/ scripts/ bin/): no path to the reference folder
 *     (`../shared`, `/work/shared`, `join(…, '..', 'shared')`) and no citation of design.md / ecosystem.md.
 *     The one exception is `src/util/paths.ts`, which overlays the folder when it exists (`fixtureDirs()`).
 *   pages (.md there, in docs/ and the root README): no citation of those notes, no path into the folder
 *     (`/work/shared/…`, `../../shared/…`). Cite docs/design-notes.md#anchor instead; name fixtures/ and traces/.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, it } from 'node:test';
import { repoRoot } from './paths.ts';

// Built from pieces so this file does not match its own rules.
const NOTES = ['design', 'ecosystem'].map((name) => `${name}.md`);
const SHARED = 'shared';
const CODE_RULES: [string, RegExp][] = [
  ['a path to the reference folder', new RegExp(`\\.\\./${SHARED}\\b|/work/${SHARED}\\b`)],
  ['a join() to the reference folder', new RegExp(`['"\`]\\.\\.['"\`]\\s*,\\s*['"\`]${SHARED}['"\`]`)],
  [
    "a citation of the maintainers' notes",
    new RegExp(NOTES.map((n) => `\\b${n.replace('.', '\\.')}`).join('|')),
  ],
];
const PAGE_RULES: [string, RegExp][] = [
  ["a citation of the maintainers' notes", CODE_RULES[2]![1]],
  ['a path into the reference folder', new RegExp(`/work/${SHARED}/|(\\.\\./){2,}${SHARED}/`)],
];
const ALLOWED = new Set(['src/util/paths.ts', 'src/util/self-contained.test.ts']);

function filesUnder(dir: string, out: string[] = []): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return out;
  }
  for (const name of names) {
    if (name === 'node_modules' || name.startsWith('.')) continue;
    const path = join(dir, name);
    if (statSync(path).isDirectory()) filesUnder(path, out);
    else out.push(path);
  }
  return out;
}

function violations(files: string[], rules: [string, RegExp][]): string[] {
  const found: string[] = [];
  for (const file of files) {
    const rel = relative(repoRoot, file);
    if (ALLOWED.has(rel)) continue;
    const lines = readFileSync(file, 'utf8').split('\n');
    lines.forEach((line, i) => {
      for (const [what, pattern] of rules)
        if (pattern.test(line)) found.push(`${rel}:${i + 1}: ${what}: ${line.trim()}`);
    });
  }
  return found;
}

const codeDirs = ['src', 'labs', 'bench', 'scripts', 'bin'].map((d) => join(repoRoot, d));

describe('a self-contained repository', () => {
  it('code reaches the reference folder only through src/util/paths.ts and cites no outside notes', () => {
    const code = codeDirs.flatMap((d) => filesUnder(d)).filter((f) => /\.(ts|mjs|cjs|js)$/.test(f));
    assert.ok(code.length > 100, `expected the project's sources under ${repoRoot}`);
    assert.deepEqual(violations(code, CODE_RULES), []);
  });

  it('pages cite docs/design-notes.md and the in-repo fixtures/ and traces/, nothing outside', () => {
    const pages = [...codeDirs, join(repoRoot, 'docs')]
      .flatMap((d) => filesUnder(d))
      .filter((f) => f.endsWith('.md'))
      .concat(join(repoRoot, 'README.md'));
    assert.deepEqual(violations(pages, PAGE_RULES), []);
  });

  it('the rules catch what they are for', () => {
    const code = (text: string) => CODE_RULES.some(([, p]) => p.test(text));
    assert.ok(code(`join(repoRoot, '..', 'shared')`));
    assert.ok(code(`const trace = '../${SHARED}/traces/x.jsonl';`));
    assert.ok(code(` * KV cost (${NOTES[0]} §4)`));
    assert.ok(!code(`const memory = { ${SHARED}: true }; // shared by all threads`));
    assert.ok(!code(' * KV cost (docs/design-notes.md#kv-cost)'));
    const page = (text: string) => PAGE_RULES.some(([, p]) => p.test(text));
    assert.ok(page(`dhw replay /work/${SHARED}/traces/t.jsonl`));
    assert.ok(page(`open ../../../../${SHARED}/fixtures/x`));
    assert.ok(!page('dhw replay traces/mooncake_synthetic_trace.jsonl'));
  });
});
