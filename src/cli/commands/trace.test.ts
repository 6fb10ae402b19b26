import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { parseTrace } from '../../replay/index.ts';
import { repoRoot } from '../../util/paths.ts';
import { svgProblems } from '../../util/svg-check.ts';

const DHW = join(repoRoot, 'bin', 'dhw.mjs');
const dir = mkdtempSync(join(tmpdir(), 'dhw-trace-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function dhw(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [DHW, ...args], { maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : 1;
      resolve({ code, stdout, stderr });
    });
  });
}

const lastJson = (stdout: string) => JSON.parse(stdout.trim().split('\n').at(-1)!);

describe('dhw trace generate', () => {
  const trace = join(dir, 'agent.jsonl');
  const generate = [
    'trace',
    'generate',
    '--kind',
    'tool-agent',
    '--sessions',
    '16',
    '--isl',
    'lognormal:1200,0.5',
    '--turn-isl',
    '400',
    '--think-time',
    'exp:500',
    '--seed',
    '9',
    '--out',
    trace,
  ];

  it('writes a seeded session trace and says how to reproduce it', { timeout: 60_000 }, async () => {
    const { code, stderr } = await dhw(generate);
    assert.equal(code, 0, stderr);
    assert.match(stderr, /requests in 16 sessions/);
    assert.match(stderr, /reproduce: dhw trace generate --kind tool-agent --sessions 16 .*--seed 9/);
    const text = readFileSync(trace, 'utf8');
    const records = parseTrace(text);
    assert.equal(new Set(records.map((r) => r.sessionId)).size, 16);
    const again = join(dir, 'again.jsonl');
    assert.equal((await dhw([...generate.slice(0, -1), again])).code, 0);
    assert.equal(readFileSync(again, 'utf8'), text, 'same seed, same bytes');
  });

  it('replays the generated trace: ceiling in the table and JSON, closed loop, and a sweep chart', {
    timeout: 120_000,
  }, async () => {
    const one = await dhw(['replay', trace, '--workers', '2', '--compare', 'round-robin,kv', '--json']);
    assert.equal(one.code, 0, one.stderr);
    assert.match(one.stdout, /\| hit-rate ceiling: 1 node LRU \/ infinite \| [\d.]+ % \/ [\d.]+ % \|/);
    const report = lastJson(one.stdout);
    assert.equal(report.runs.length, 2);
    for (const run of report.runs) {
      assert.equal(typeof run.ttftMs.mean, 'number');
      assert.ok(run.hitRateCeiling.infinite >= run.hitRateCeiling.lru);
      assert.ok(run.prefixHitRate <= run.hitRateCeiling.infinite + 1e-9);
      assert.equal(run.hitRateCeiling.capacityTokens, 2 * 65_536 * 16);
    }

    const closed = await dhw(['replay', trace, '--workers', '2', '--concurrency', '3', '--json']);
    assert.equal(closed.code, 0, closed.stderr);
    assert.match(closed.stderr, /closed loop with 3 users/);
    assert.equal(lastJson(closed.stdout).config.concurrency, 3);

    const svg = join(dir, 'sweep.svg');
    const sweep = await dhw([
      'replay',
      trace,
      '--workers',
      '2',
      '--compare',
      'round-robin,kv',
      '--sweep',
      'concurrency=1,4',
      '--plot',
      svg,
      '--json',
    ]);
    assert.equal(sweep.code, 0, sweep.stderr);
    assert.match(sweep.stdout, /\| users \| policy \| prefix hit \|/);
    const swept = lastJson(sweep.stdout);
    assert.deepEqual(swept.sweep, { parameter: 'concurrency', values: [1, 4] });
    assert.deepEqual(
      swept.runs.map((r: { policy: string; load: object }) => [r.policy, r.load]),
      [
        ['round-robin', { concurrency: 1 }],
        ['kv', { concurrency: 1 }],
        ['round-robin', { concurrency: 4 }],
        ['kv', { concurrency: 4 }],
      ],
    );
    const chart = readFileSync(svg, 'utf8');
    assert.deepEqual(svgProblems(chart), []);
    assert.match(chart, /TTFT p99 vs load/);
  });

  it('names the fix for bad flags', async () => {
    const noKind = await dhw(['trace', 'generate']);
    assert.equal(noKind.code, 2);
    assert.match(noKind.stderr, /--kind is required: conversation, tool-agent, shared-prefix/);
    const badIsl = await dhw(['trace', 'generate', '--kind', 'conversation', '--isl', 'normal:5']);
    assert.equal(badIsl.code, 1);
    assert.match(badIsl.stderr, /--isl "normal:5": unknown distribution/);
    const badSweep = await dhw(['replay', trace, '--sweep', 'rate=1,2']);
    assert.equal(badSweep.code, 1);
    assert.match(badSweep.stderr, /use time-scale=1,0.5,0.25 .* or concurrency=8,16,32/);
  });
});
