import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { repoRoot, traceFile } from '../../util/paths.ts';
import { svgProblems } from '../../util/svg-check.ts';

const DHW = join(repoRoot, 'bin', 'dhw.mjs');
const dir = mkdtempSync(join(tmpdir(), 'dhw-replay-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function dhw(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [DHW, ...args], { maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : 1;
      resolve({ code, stdout, stderr });
    });
  });
}

describe('dhw replay', () => {
  it('replays the first 200 Mooncake requests with two policies and prints JSON last', {
    timeout: 120_000,
  }, async () => {
    const trace = join(dir, 'head.jsonl');
    const lines = readFileSync(traceFile('mooncake_synthetic_trace.jsonl'), 'utf8').split('\n');
    writeFileSync(trace, lines.slice(0, 200).join('\n'));
    const svg = join(dir, 'replay.svg');
    const { code, stdout, stderr } = await dhw([
      'replay',
      trace,
      '--workers',
      '4',
      '--compare',
      'round-robin,kv',
      '--plot',
      svg,
      '--json',
    ]);
    assert.equal(code, 0, stderr);
    assert.match(stdout, /\| metric +\| round-robin \| kv \|/);
    const report = JSON.parse(stdout.trim().split('\n').at(-1)!);
    assert.equal(report.requests, 200);
    assert.deepEqual(report.config.policies, ['round-robin', 'kv']);
    assert.equal(report.config.workers, 4);
    assert.equal(report.runs.length, 2);
    for (const run of report.runs) {
      assert.equal(run.requests, 200);
      assert.equal(run.completed + run.rejected, 200);
      for (const key of ['ttftMs', 'tpotMs', 'itlMs', 'e2eMs']) {
        assert.deepEqual(Object.keys(run[key]).sort(), ['mean', 'p50', 'p90', 'p99']);
        assert.equal(typeof run[key].p50, 'number');
      }
      for (const key of ['prefixHitRate', 'requestThroughput', 'outputTokenThroughput', 'goodput']) {
        assert.equal(typeof run[key], 'number', key);
      }
      assert.equal(run.workers.length, 4);
      assert.equal(
        run.workers.reduce((a: number, w: { requests: number }) => a + w.requests, 0),
        200,
      );
    }
    assert.deepEqual(svgProblems(readFileSync(svg, 'utf8')), []);
  });

  it('names the line of a malformed trace and exits 1', async () => {
    const trace = join(dir, 'bad.jsonl');
    writeFileSync(
      trace,
      '{"timestamp": 0, "input_length": 10, "output_length": 2, "hash_ids": [1]}\n{"timestamp": 5,',
    );
    const { code, stderr } = await dhw(['replay', trace]);
    assert.equal(code, 1);
    assert.match(stderr, /bad\.jsonl:2: not valid JSON/);
  });

  it('rejects an unknown policy before replaying anything', async () => {
    const { code, stderr } = await dhw(['replay', 'x.jsonl', '--compare', 'kv,fastest']);
    assert.equal(code, 2);
    assert.match(stderr, /unknown policy "fastest"/);
  });
});
