/**
 * Where the tests find their references: the in-repo fixtures and traces always, overlaid by the maintainers'
 * reference folder when it exists (its folder wins by name; a differing in-repo copy is tested as well).
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import {
  FixtureNotFoundError,
  fixtureDir,
  fixtureDirs,
  overlayFixtureDirs,
  repoFixturesDir,
  traceFile,
  traceFiles,
} from './paths.ts';

const tmp = mkdtempSync(join(tmpdir(), 'dhw-paths-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

function folder(root: string, name: string, files: Record<string, string>): void {
  mkdirSync(join(root, name), { recursive: true });
  for (const [file, text] of Object.entries(files)) writeFileSync(join(root, name, file), text);
}

describe('overlayFixtureDirs', () => {
  const lower = join(tmp, 'repo');
  const upper = join(tmp, 'shared');
  folder(lower, 'only-repo', { 'golden.json': '{}' });
  folder(lower, 'same', { 'golden.json': '{"a":1}' });
  folder(lower, 'stale', { 'golden.json': '{"a":1}' });
  folder(lower, 'extra-file', { 'golden.json': '{}' });
  folder(upper, 'same', { 'golden.json': '{"a":1}' });
  folder(upper, 'stale', { 'golden.json': '{"a":2}' });
  folder(upper, 'extra-file', { 'golden.json': '{}', 'more.json': '{}' });
  folder(upper, 'only-shared', { 'tokenizer.json': '{}' });

  it('unions by name: the upper folder wins, a differing lower copy is kept as "(repo copy)"', () => {
    const found = overlayFixtureDirs(lower, upper).map((f) => [f.label, f.origin, f.dir]);
    assert.deepEqual(found, [
      ['extra-file', 'shared', join(upper, 'extra-file')],
      ['extra-file (repo copy)', 'repo', join(lower, 'extra-file')],
      ['only-repo', 'repo', join(lower, 'only-repo')],
      ['only-shared', 'shared', join(upper, 'only-shared')],
      ['same', 'shared', join(upper, 'same')],
      ['stale', 'shared', join(upper, 'stale')],
      ['stale (repo copy)', 'repo', join(lower, 'stale')],
    ]);
  });

  it('filters before comparing, and a missing upper folder is no error', () => {
    const hasGolden = (dir: string) => existsSync(join(dir, 'golden.json'));
    assert.deepEqual(
      overlayFixtureDirs(lower, upper, hasGolden).map((f) => f.label),
      ['extra-file', 'extra-file (repo copy)', 'only-repo', 'same', 'stale', 'stale (repo copy)'],
    );
    assert.deepEqual(
      overlayFixtureDirs(lower, join(tmp, 'no-such-folder')).map((f) => [f.label, f.origin]),
      [
        ['extra-file', 'repo'],
        ['only-repo', 'repo'],
        ['same', 'repo'],
        ['stale', 'repo'],
      ],
    );
  });
});

describe('the references this repository ships', () => {
  it("finds every in-repo fixture folder, with or without the maintainers' folder beside the checkout", () => {
    const names = new Set(fixtureDirs().map((f) => f.name));
    for (const name of [
      'llama-gqa-untied',
      'llama3-ropescaling-bf16',
      'qwen2-bias-tied',
      'tok-bytelevel-chatml',
      'tok-sentencepiece-zephyr',
    ]) {
      assert.ok(names.has(name), `${name} in ${repoFixturesDir}`);
      assert.ok(
        existsSync(join(fixtureDir(name), 'tokenizer_config.json')) ||
          existsSync(join(fixtureDir(name), 'config.json')),
      );
    }
  });

  it('names the folder it looked in for an unknown fixture', () => {
    assert.throws(
      () => fixtureDir('no-such-fixture'),
      (err: Error) => {
        assert.ok(err instanceof FixtureNotFoundError);
        assert.ok(err.message.includes(repoFixturesDir), err.message);
        return true;
      },
    );
  });

  it('finds the Mooncake trace', () => {
    const mooncake = traceFile('mooncake_synthetic_trace.jsonl');
    assert.ok(existsSync(mooncake), mooncake);
    assert.ok(traceFiles().includes(mooncake));
  });
});
