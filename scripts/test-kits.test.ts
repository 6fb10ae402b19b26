/**
 * Test kits follow one convention: helpers a test imports live in a `testing/` folder of their component as
 * `*-kit.ts`; programs a test spawns live there as `*-process.ts`; shared suites are `*.conformance.ts` beside
 * the interface they check. Importing a kit (or a suite) does nothing: no server started, no timer or
 * handle left open, no process hook installed, no environment read, no logging reconfigured. Like a
 * library's constructor that must not open sockets: only calling it may.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, it } from 'node:test';
import { repoRoot } from '../src/util/paths.ts';

function walk(dir: string, out: string[] = []): string[] {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) walk(path, out);
    else out.push(path);
  }
  return out;
}

const srcFiles = walk(join(repoRoot, 'src')).map((f) => relative(repoRoot, f));
const testingFiles = srcFiles.filter((f) => f.includes('/testing/'));
const kits = [
  ...testingFiles.filter((f) => f.endsWith('-kit.ts')),
  ...srcFiles.filter((f) => f.endsWith('.conformance.ts')),
];

/** Imports each kit in a fresh process and reports what the import changed. */
const PROBE = `
const [root, ...kits] = process.argv.slice(1);
const { configureLogging, getLogger } = await import(root + '/src/util/logger.ts');
const logged = [];
configureLogging({ level: 'debug', format: 'text', write: (line) => logged.push(line) });
const envReads = [];
const env = process.env;
process.env = new Proxy(env, {
  get(target, key) {
    const caller = (new Error().stack ?? '').split('\\n')[2] ?? '';
    if (typeof key === 'string' && caller.includes(root + '/src/')) envReads.push(key + ' ' + caller.trim());
    return Reflect.get(target, key);
  },
});
const HOOKS = ['exit', 'beforeExit', 'SIGINT', 'SIGTERM', 'SIGHUP', 'uncaughtException', 'unhandledRejection'];
const hooks = () => HOOKS.map((e) => e + ':' + process.listenerCount(e)).join(' ');
const handles = () => process.getActiveResourcesInfo().filter((r) => r !== 'TTYWrap').sort().join(' ');
const settle = () => new Promise((resolve) => setTimeout(resolve, 20));
await settle();
const report = {};
for (const kit of kits) {
  const before = { hooks: hooks(), handles: handles() };
  envReads.length = 0;
  await import(root + '/' + kit);
  await settle();
  logged.length = 0;
  getLogger('probe').debug('still at debug level');
  report[kit] = {
    hooks: before.hooks === hooks() ? 'unchanged' : before.hooks + ' -> ' + hooks(),
    handles: before.handles === handles() ? 'unchanged' : before.handles + ' -> ' + handles(),
    envReads: [...envReads],
    logging: logged.length === 1 ? 'unchanged' : 'reconfigured',
  };
}
// Exit at once: a kit that left a timer or a server behind would otherwise keep this process alive.
process.stdout.write(JSON.stringify(report), () => process.exit(0));
`;

describe('test kits', () => {
  it('live in testing/ folders as *-kit.ts (imported) or *-process.ts (spawned)', () => {
    assert.ok(kits.length >= 8, `found only ${kits.length} kits: ${kits}`);
    const misnamed = testingFiles.filter((f) => !/-(kit|process)\.ts$/.test(f));
    assert.deepEqual(misnamed, []);
    const oldStyle = srcFiles.filter((f) => /(^|\/)(test-support\.ts|test-fixtures\/)/.test(f));
    assert.deepEqual(oldStyle, []);
  });

  it('do nothing when imported: no hooks, handles, environment reads or logging changes', () => {
    const run = spawnSync(
      process.execPath,
      ['--import', 'tsx', '--input-type=module', '-e', PROBE, repoRoot, ...kits],
      {
        cwd: repoRoot,
        encoding: 'utf8',
        timeout: 60_000,
      },
    );
    assert.equal(run.status, 0, run.stderr);
    const report = JSON.parse(run.stdout) as Record<string, unknown>;
    const clean = { hooks: 'unchanged', handles: 'unchanged', envReads: [], logging: 'unchanged' };
    for (const kit of kits) assert.deepEqual(report[kit], clean, `importing ${kit} changed something`);
  });
});
