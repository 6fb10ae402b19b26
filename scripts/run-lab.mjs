#!/usr/bin/env node
// The lab runner: `npm run lab -- list`, `npm run lab -- 1.2 [--smoke] [lab args]`, `npm run lab -- all --smoke`.
//
// The registry is the folder layout, like a web server mapping URLs to files:
//   labs/level-1/02-trace-a-request/lab.ts  →  id "1.2"
// A lab's title is the first "# " heading of the README.md beside it; the lines its smoke run must print are
// listed in lab.ts as `@expect <text>` comment lines (`@expect /regex/` for a pattern). `list --json` prints
// the registry for tools (labs/smoke.test.ts uses it).
//
// Smoke mode (`--smoke`, or env CI=true) tells the lab to run a small, fast version; the runner passes both the
// flag and DHW_LAB_SMOKE=1 to the script.
//
// A lab with an exercise has starter.ts, reference.ts and check.ts beside lab.ts (labs/lib/exercise.ts):
//   npm run lab -- 1.3 --check [FILE]        check FILE (default: the lab's starter.ts as shipped)
//   npm run lab -- 1.3 --check --reference   check the reference solution
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const labsDir = join(repoRoot, 'labs');

/** Every lab found under labs/level-N/NN-name/lab.ts, sorted by level then number. */
function discoverLabs() {
  const labs = [];
  for (const levelName of safeReaddir(labsDir)) {
    const level = /^level-(\d+)$/.exec(levelName);
    if (!level) continue;
    for (const labName of safeReaddir(join(labsDir, levelName))) {
      const lab = /^(\d+)-([a-z0-9-]+)$/.exec(labName);
      const dir = join(labsDir, levelName, labName);
      const script = join(dir, 'lab.ts');
      if (!lab || !existsSync(script)) continue;
      labs.push({
        id: `${Number(level[1])}.${Number(lab[1])}`,
        level: Number(level[1]),
        number: Number(lab[1]),
        name: lab[2],
        title: readTitle(join(dir, 'README.md')) ?? lab[2].replaceAll('-', ' '),
        script: relative(repoRoot, script),
        chapter: relative(repoRoot, join(dir, 'README.md')),
        expect: readExpectations(script),
        exercise: findExercise(dir),
      });
    }
  }
  return labs.sort((a, b) => a.level - b.level || a.number - b.number);
}

/** The exercise files of a lab folder, or null when it has no check.ts. */
function findExercise(dir) {
  const files = { check: 'check.ts', starter: 'starter.ts', reference: 'reference.ts' };
  if (!existsSync(join(dir, files.check))) return null;
  return Object.fromEntries(
    Object.entries(files).map(([role, file]) => [role, relative(repoRoot, join(dir, file))]),
  );
}

function safeReaddir(dir) {
  try {
    return readdirSync(dir).sort();
  } catch {
    return [];
  }
}

function readTitle(readme) {
  if (!existsSync(readme)) return undefined;
  const heading = readFileSync(readme, 'utf8')
    .split('\n')
    .find((line) => line.startsWith('# '));
  return heading
    ?.slice(2)
    .replace(/^Lab \d+\.\d+:\s*/, '')
    .trim();
}

function readExpectations(script) {
  return readFileSync(script, 'utf8')
    .split('\n')
    .map((line) => /@expect\s+(.+?)\s*$/.exec(line)?.[1])
    .filter((text) => text !== undefined);
}

function printList(labs) {
  const width = Math.max(...labs.map((l) => l.id.length), 2);
  console.log('Labs (run one with `npm run lab -- <id>`, add --smoke for the quick version):\n');
  let level = -1;
  for (const lab of labs) {
    if (lab.level !== level) {
      level = lab.level;
      console.log(`  Level ${level}`);
    }
    const exercise = lab.exercise ? '   [exercise: --check]' : '';
    console.log(`    ${lab.id.padEnd(width)}  ${lab.title}   (${lab.chapter})${exercise}`);
  }
  console.log('\nPlanned labs and the 3-week day plan: labs/README.md');
}

function runLab(lab, smoke, extraArgs, script = lab.script) {
  console.log(`> node --import tsx ${script}${smoke ? ' --smoke' : ''} ${extraArgs.join(' ')}`.trimEnd());
  const args = ['--import', 'tsx', join(repoRoot, script), ...(smoke ? ['--smoke'] : []), ...extraArgs];
  const env = { ...process.env, ...(smoke ? { DHW_LAB_SMOKE: '1' } : {}) };
  const result = spawnSync(process.execPath, args, { cwd: repoRoot, stdio: 'inherit', env });
  if (result.error) console.error(`could not start lab ${lab.id}: ${result.error.message}`);
  return result.status ?? 1;
}

function main(argv) {
  const smoke = argv.includes('--smoke') || process.env.CI === 'true';
  const args = argv.filter((a) => a !== '--smoke');
  const [command, ...extraArgs] = args;
  const labs = discoverLabs();

  if (command === undefined || command === 'list' || command === '--help' || command === '-h') {
    if (extraArgs.includes('--json')) console.log(JSON.stringify(labs, null, 2));
    else printList(labs);
    return 0;
  }
  if (command === 'all') {
    const failed = labs.filter((lab) => runLab(lab, smoke, extraArgs) !== 0).map((lab) => lab.id);
    console.log(
      failed.length === 0 ? `\nall ${labs.length} labs passed` : `\nfailed labs: ${failed.join(', ')}`,
    );
    return failed.length === 0 ? 0 : 1;
  }
  const lab = labs.find((l) => l.id === command || l.name === command);
  if (!lab) {
    console.error(`No lab "${command}". Known ids: ${labs.map((l) => l.id).join(', ')}`);
    console.error('Run `npm run lab -- list` for titles; labs/README.md lists the planned ones.');
    return 2;
  }
  if (extraArgs.includes('--check')) {
    if (!lab.exercise) {
      const withExercise = labs.filter((l) => l.exercise).map((l) => l.id);
      console.error(`Lab ${lab.id} has no exercise (no check.ts). Labs with one: ${withExercise.join(', ')}`);
      return 2;
    }
    const checkArgs = extraArgs.filter((a) => a !== '--check');
    return runLab(lab, smoke, checkArgs, lab.exercise.check);
  }
  return runLab(lab, smoke, extraArgs);
}

process.exitCode = main(process.argv.slice(2));
