import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';

function runSmoke(extra: string[]) {
  const run = spawnSync(process.execPath, ['bin/run-ts.mjs', 'bench/frontend.ts', '--smoke', ...extra], {
    encoding: 'utf8',
    timeout: 120_000,
  });
  assert.equal(run.status, 0, `${run.stdout}\n${run.stderr}`);
  return run.stdout;
}

/** Cells of the Markdown table whose header row starts with `| first |`. */
function tableRows(stdout: string, first: string): { header: string[]; rows: string[][] } {
  const lines = stdout.split('\n');
  const start = lines.findIndex((l) => l.startsWith(`| ${first} |`));
  assert.ok(start >= 0, `no table starting with "${first}" in:\n${stdout}`);
  const cells = (line: string) =>
    line
      .split('|')
      .slice(1, -1)
      .map((c) => c.trim());
  const rows: string[][] = [];
  for (let i = start + 2; i < lines.length && lines[i]!.startsWith('|'); i++) rows.push(cells(lines[i]!));
  return { header: cells(lines[start]!), rows };
}

describe('bench:frontend --smoke', () => {
  it('prints the latency table for the three paths, the overhead line and the throughput table', () => {
    const stdout = runSmoke([]);
    const latency = tableRows(stdout, 'path');
    assert.deepEqual(latency.header, ['path', 'requests', 'p50 ms', 'p90 ms', 'p99 ms', 'mean ms']);
    assert.deepEqual(
      latency.rows.map((r) => r[0]),
      ['engine', 'request plane', 'HTTP frontend'],
    );
    for (const row of latency.rows) {
      const numbers = row.slice(1).map(Number);
      assert.ok(
        numbers.every((x) => Number.isFinite(x) && x >= 0),
        `numeric cells: ${row}`,
      );
      assert.ok(numbers[1]! <= numbers[3]!, `p50 ≤ p99 in ${row}`);
    }
    assert.match(stdout, /frontend overhead p50: -?[\d.]+ ms \(HTTP frontend − request plane\); goal ≤ 1 ms/);
    const throughput = tableRows(stdout, 'concurrency');
    assert.deepEqual(throughput.header, [
      'concurrency',
      'requests',
      'req/s',
      'CPU ms/req',
      'req per CPU-second',
      'engine steps/req',
      'seqs/step',
      'KV events/req',
      'p50 ms',
      'p99 ms',
    ]);
    assert.deepEqual(
      throughput.rows.map((r) => Number(r[0])),
      [1, 8, 32],
    );
    for (const row of throughput.rows) {
      assert.ok(Number(row[2]) > 0, `req/s > 0 in ${row}`);
      assert.ok(Number(row[3]) > 0, `CPU ms per request > 0 in ${row}`);
      // Every request's tokens came from engine steps; a step runs at least one sequence.
      assert.ok(Number(row[5]) > 0 && Number(row[6]) >= 1, `engine steps and sequences per step in ${row}`);
      assert.ok(Number(row[7]) >= 0, `KV events per request in ${row}`);
    }
  });

  it('--json prints one JSON object with every path and concurrency level', () => {
    const lines = runSmoke(['--json']).trim().split('\n');
    assert.equal(lines.length, 1, 'only the JSON line');
    const report = JSON.parse(lines[0]!) as {
      bench: string;
      latency: { path: string; count: number; p50Ms: number; p99Ms: number }[];
      frontendOverheadP50Ms: number;
      requestPlaneOverheadP50Ms: number;
      throughput: { concurrency: number; requests: number; reqPerSec: number }[];
    };
    assert.equal(report.bench, 'frontend');
    assert.deepEqual(
      report.latency.map((r) => r.path),
      ['engine', 'request plane', 'HTTP frontend'],
    );
    assert.ok(report.latency.every((r) => r.count === 60 && r.p50Ms > 0 && r.p99Ms >= r.p50Ms));
    assert.equal(typeof report.frontendOverheadP50Ms, 'number');
    assert.equal(typeof report.requestPlaneOverheadP50Ms, 'number');
    assert.deepEqual(
      report.throughput.map((r) => r.concurrency),
      [1, 8, 32],
    );
    assert.ok(report.throughput.every((r) => r.requests >= 60 && r.reqPerSec > 0));
  });
});
