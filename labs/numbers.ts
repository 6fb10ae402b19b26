/**
 * `npm run lab:numbers [-- 1.2 1.3] [--smoke]`: run each lab whose chapter has a numbers table (the full
 * version unless --smoke) and check every number it quotes, timings included, against what the run prints.
 * The load average is printed before and after each lab: a timing out of range on a busy machine says more
 * about the machine than the chapter, so read it first. `npm test` checks the same tables' `count` rows on
 * the smoke runs (labs/smoke.test.ts); this is the slow, timing-aware check to run before editing a chapter.
 */
import { spawnSync } from 'node:child_process';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '../src/util/paths.ts';
import { printTable } from './lib/lab-kit.ts';
import { checkLabNumbers, readLabNumbers, type RunMode } from './lib/lab-numbers.ts';

interface LabEntry {
  id: string;
  chapter: string;
}

const runner = join(repoRoot, 'scripts', 'run-lab.mjs');
const load = () =>
  loadavg()
    .map((x) => x.toFixed(2))
    .join(' ');

function listLabs(): LabEntry[] {
  const listed = spawnSync(process.execPath, [runner, 'list', '--json'], { cwd: repoRoot, encoding: 'utf8' });
  if (listed.status !== 0) throw new Error(`could not list the labs: ${listed.stderr}`);
  return JSON.parse(listed.stdout) as LabEntry[];
}

function main(argv: string[]): number {
  const mode: RunMode = argv.includes('--smoke') ? 'smoke' : 'full';
  const ids = argv.filter((a) => !a.startsWith('--'));
  const labs = listLabs().filter((lab) => ids.length === 0 || ids.includes(lab.id));
  const unknown = ids.filter((id) => !labs.some((lab) => lab.id === id));
  if (unknown.length > 0) {
    console.error(`No lab ${unknown.join(', ')}; \`npm run lab -- list\` shows the ids.`);
    return 2;
  }
  let failed = 0;
  let checked = 0;
  for (const lab of labs) {
    const quoted = readLabNumbers(join(repoRoot, lab.chapter));
    if (!quoted) continue;
    checked++;
    const before = load();
    const env = { ...process.env, DHW_LAB_SMOKE: mode === 'smoke' ? '1' : '', CI: '' };
    const args = [runner, lab.id, ...(mode === 'smoke' ? ['--smoke'] : [])];
    const run = spawnSync(process.execPath, args, { cwd: repoRoot, encoding: 'utf8', env });
    const output = `${run.stdout}\n${run.stderr}`;
    console.log(
      `\nLab ${lab.id} (${mode} run, exit ${run.status}); load average ${before} before, ${load()} after`,
    );
    console.log(`  README machine: ${quoted.machine}`);
    const checks = checkLabNumbers(quoted, output, mode, { checkTimings: true });
    printTable(
      ['quoted number', 'kind', 'README', 'printed', 'verdict'],
      checks.map((c) => [c.what, c.kind, c.range.text, c.values.join(', ') || '–', c.problem ? 'OUT' : 'ok']),
    );
    const bad = checks.filter((c) => c.problem !== undefined);
    for (const c of bad) console.log(`  ${c.what}: ${c.problem}`);
    if (run.status !== 0 || bad.length > 0) failed++;
  }
  console.log(`\n${checked} chapter(s) checked, ${failed} with a number out of range or a failed run`);
  return failed === 0 ? 0 : 1;
}

process.exitCode = main(process.argv.slice(2));
