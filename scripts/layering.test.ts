/**
 * The layering rules themselves (.dependency-cruiser.cjs), tried on tiny trees in a temp folder: one that
 * breaks each rule must be rejected by that rule, and one that follows the direction must pass. Like testing
 * a firewall's rule set with packets that must be dropped and packets that must pass.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, describe, it } from 'node:test';
import { repoRoot } from '../src/util/paths.ts';

const DEPCRUISE = join(repoRoot, 'node_modules', 'dependency-cruiser', 'bin', 'dependency-cruise.mjs');
const CONFIG = join(repoRoot, '.dependency-cruiser.cjs');

interface Violation {
  rule: string;
  from: string;
  to: string;
}

const roots: string[] = [];
after(() => {
  for (const root of roots) rmSync(root, { recursive: true, force: true });
});

/** Write `files` (path → import specifiers) as a tree of .ts modules and cruise it with the project's rules. */
function cruise(files: Record<string, string[]>, dirs: string[] = ['src']): Violation[] {
  const root = mkdtempSync(join(tmpdir(), 'dhw-layering-'));
  roots.push(root);
  for (const [path, imports] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    const body = imports.map((spec, i) => `import * as m${i} from '${spec}';\nexport const v${i} = m${i};\n`);
    writeFileSync(join(root, path), body.join('') || 'export const nothing = 0;\n');
  }
  const run = spawnSync(process.execPath, [DEPCRUISE, ...dirs, '--config', CONFIG, '--output-type', 'json'], {
    cwd: root,
    encoding: 'utf8',
  });
  assert.ok(run.stdout.startsWith('{'), `depcruise printed no JSON (exit ${run.status}):\n${run.stderr}`);
  const result = JSON.parse(run.stdout) as {
    summary: { violations: { rule: { name: string }; from: string; to: string }[] };
  };
  return result.summary.violations.map((v) => ({ rule: v.rule.name, from: v.from, to: v.to }));
}

const rulesOn = (violations: Violation[], from: string): string[] =>
  violations
    .filter((v) => v.from === from)
    .map((v) => v.rule)
    .sort();

describe('layering rules (.dependency-cruiser.cjs)', () => {
  it('reject a circle, an upward import and every named boundary crossing', () => {
    const violations = cruise({
      // A module circle and a folder circle.
      'src/tokens/chunk.ts': ['./hash.ts'],
      'src/tokens/hash.ts': ['./chunk.ts'],
      'src/kv/pool/free-list.ts': ['../table/block-table.ts'],
      'src/kv/table/block-table.ts': ['../pool/block.ts'],
      'src/kv/pool/block.ts': [],
      // Upward: the engine reaching into the frontend; the router into the engine.
      'src/engine/step.ts': ['../frontend/http.ts'],
      'src/frontend/http.ts': [],
      'src/router/pick.ts': ['../engine/step.ts'],
      // protocols/ imports nothing, not even a Node built-in.
      'src/protocols/wire.ts': ['node:fs'],
      // Nothing imports cli/; the serving code never imports infra/ or a test kit.
      'src/worker/worker.ts': ['../cli/main.ts', '../infra/local-servers.ts', './testing/worker-kit.ts'],
      'src/cli/main.ts': [],
      'src/infra/local-servers.ts': [],
      'src/worker/testing/worker-kit.ts': [],
    });
    // A circle is reported once, from one of its members.
    const circle = violations.filter((v) => v.rule === 'no-circular');
    assert.equal(circle.length, 1, JSON.stringify(violations));
    assert.ok(['src/tokens/chunk.ts', 'src/tokens/hash.ts'].includes(circle[0]!.from));
    assert.ok(
      violations.some(
        (v) => v.rule === 'no-circular-folders' && v.from === 'src/kv/pool' && v.to === 'src/kv/table',
      ),
      JSON.stringify(violations),
    );
    assert.deepEqual(rulesOn(violations, 'src/engine/step.ts'), ['layer-engine']);
    assert.deepEqual(rulesOn(violations, 'src/router/pick.ts'), [
      'layer-router',
      'router-never-imports-engine',
    ]);
    assert.deepEqual(rulesOn(violations, 'src/protocols/wire.ts'), ['protocols-import-nothing']);
    // worker/ → cli/ and → infra/ also leave worker's allowed layers (layer-worker), once each.
    assert.deepEqual(rulesOn(violations, 'src/worker/worker.ts'), [
      'infra-is-dev-tooling',
      'layer-worker',
      'layer-worker',
      'no-test-kits-in-production',
      'nothing-imports-cli',
    ]);
  });

  it('pass a tree whose imports point down, with tests reaching infra/ and their kits', () => {
    const violations = cruise({
      'src/protocols/ids.ts': [],
      'src/util/logger.ts': [],
      'src/tokens/block-hash.ts': ['../protocols/ids.ts', '../util/logger.ts'],
      'src/kv/block-pool.ts': ['../tokens/block-hash.ts'],
      'src/engine/scheduler.ts': ['../kv/block-pool.ts'],
      'src/router/router.ts': ['../protocols/ids.ts', '../tokens/block-hash.ts'],
      'src/runtime/discovery.ts': ['../protocols/ids.ts'],
      'src/frontend/frontend.ts': ['../router/router.ts', '../runtime/discovery.ts'],
      'src/worker/worker.ts': ['../engine/scheduler.ts', '../runtime/discovery.ts'],
      'src/infra/local-servers.ts': ['../util/logger.ts'],
      'src/cli/main.ts': ['../frontend/frontend.ts', '../worker/worker.ts', '../infra/local-servers.ts'],
      'src/runtime/discovery.test.ts': [
        './discovery.ts',
        '../infra/local-servers.ts',
        './testing/discovery-kit.ts',
      ],
      'src/runtime/testing/discovery-kit.ts': ['../discovery.ts'],
    });
    assert.deepEqual(violations, []);
  });

  it('let labs share helpers only through labs/lib, never through another lab folder', () => {
    const violations = cruise(
      {
        'labs/lib/lab-kit.ts': [],
        'labs/level-2/01-a/helper.ts': ['../../lib/lab-kit.ts'],
        'labs/level-2/01-a/lab.ts': ['./helper.ts', '../../lib/lab-kit.ts'],
        'labs/level-3/02-b/lab.ts': ['../../level-2/01-a/helper.ts', '../../lib/lab-kit.ts'],
      },
      ['labs'],
    );
    assert.deepEqual(violations, [
      { rule: 'labs-share-through-lib', from: 'labs/level-3/02-b/lab.ts', to: 'labs/level-2/01-a/helper.ts' },
    ]);
  });
});
