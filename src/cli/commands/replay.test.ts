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

/** The first `requests` lines of the repo's Mooncake trace, written to `name` in the test's folder. */
function traceHead(name: string, requests: number): string {
  const trace = join(dir, name);
  const lines = readFileSync(traceFile('mooncake_synthetic_trace.jsonl'), 'utf8').split('\n');
  writeFileSync(trace, lines.slice(0, requests).join('\n'));
  return trace;
}

describe('dhw replay', () => {
  it('replays the first 200 Mooncake requests with two policies and prints JSON last', {
    timeout: 120_000,
  }, async () => {
    const trace = traceHead('head.jsonl', 200);
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

  it('holds requests in the router queue with --router-queue-threshold and names it in the JSON config', {
    timeout: 120_000,
  }, async () => {
    const trace = traceHead('head-queue.jsonl', 100);
    const { code, stdout, stderr } = await dhw([
      'replay',
      trace,
      '--workers',
      '2',
      '--router-queue-threshold',
      '0',
      '--router-queue-policy',
      'wspt',
      '--json',
    ]);
    assert.equal(code, 0, stderr);
    assert.match(stderr, /router queue \(threshold 0, wspt\)/);
    const report = JSON.parse(stdout.trim().split('\n').at(-1)!);
    assert.deepEqual(report.config.routerQueue, { threshold: 0, policy: 'wspt' });
    assert.equal(report.runs[0].completed + report.runs[0].rejected, 100);
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

  it('replays the Mooncake head disaggregated: --prefill-workers 2 --decode-workers 6 --json keeps runs[]', {
    timeout: 120_000,
  }, async () => {
    const trace = traceHead('head40.jsonl', 40);
    const { code, stdout, stderr } = await dhw([
      'replay',
      trace,
      '--prefill-workers',
      '2',
      '--decode-workers',
      '6',
      '--link',
      '100gbit,5us',
      '--json',
    ]);
    assert.equal(code, 0, stderr);
    assert.match(stderr, /on 2 prefill \+ 6 decode workers \(KV link 100 Gbit\/s, 5 µs\)/);
    assert.match(stdout, /\| cluster +\| 2 prefill \+ 6 decode \|/);
    assert.match(stdout, /\| remote prefills \(share\) +\| \d+ \(\d+\.\d %\) \|/);
    const report = JSON.parse(stdout.trim().split('\n').at(-1)!);
    assert.equal(report.requests, 40);
    assert.equal(report.config.workers, 8);
    assert.equal(report.config.disagg.prefillWorkers, 2);
    assert.equal(report.config.disagg.decodeWorkers, 6);
    assert.deepEqual(report.config.disagg.link, { bytesPerSecond: 12.5e9, latencyMs: 0.005 });
    const [run] = report.runs;
    assert.equal(run.completed + run.rejected, 40);
    assert.equal(typeof run.ttftMs.p99, 'number');
    assert.equal(run.workers.length, 8);
    assert.equal(run.disagg.link, '100 Gbit/s, 5 µs');
    assert.ok(run.disagg.remotePrefills > 0, 'Mooncake prompts (mean 15k tokens) go to prefill workers');
    assert.equal(typeof run.disagg.transferMs.p50, 'number');
    assert.equal(run.disagg.fallbacks, 0);
  });

  it('generates a mixed workload with --synthetic mixed and names its settings in the JSON', {
    timeout: 120_000,
  }, async () => {
    const { code, stdout, stderr } = await dhw([
      'replay',
      '--synthetic',
      'mixed',
      '--requests',
      '30',
      '--long-tokens',
      '4096',
      '--short-tokens',
      '100',
      '--long-fraction',
      '0.3',
      '--rate',
      '10',
      '--output-tokens',
      '8',
      '--prefill-workers',
      '1',
      '--decode-workers',
      '2',
      '--json',
    ]);
    assert.equal(code, 0, stderr);
    const report = JSON.parse(stdout.trim().split('\n').at(-1)!);
    assert.equal(report.trace, 'synthetic:mixed');
    assert.deepEqual(report.workload, {
      workload: 'mixed',
      requests: 30,
      rate: 10,
      longTokens: 4096,
      shortTokens: 100,
      longFraction: 0.3,
      outputTokens: 8,
      seed: 0,
    });
    assert.equal(report.runs[0].completed, 30);
    assert.equal(report.runs[0].outputTokens, 240);
  });

  it('refuses flag combinations that do not make a cluster or a workload, with exit 2', async () => {
    const cases: Array<[string[], RegExp]> = [
      [
        ['x.jsonl', '--workers', '4', '--prefill-workers', '1', '--decode-workers', '3'],
        /--workers is for an aggregated replay/,
      ],
      [['x.jsonl', '--prefill-workers', '2'], /needs both --prefill-workers and --decode-workers/],
      [
        ['x.jsonl', '--prefill-workers', '1', '--decode-workers', '1', '--link', 'fast'],
        /--link: cannot read/,
      ],
      [['x.jsonl', '--link', '10gbit'], /--link only apply to a disaggregated replay/],
      [['x.jsonl', '--long-tokens', '8192'], /--long-tokens only apply with --synthetic mixed/],
      [['x.jsonl', '--synthetic', 'mixed'], /a trace file or --synthetic, not both/],
      [['--synthetic', 'bursty'], /unknown synthetic workload "bursty"/],
      [['--prefill-workers', '1', '--decode-workers', '1'], /give the trace file .* or a generated one/],
      [['x.jsonl', '--workers', '2', '--router-queue-policy', 'wspt'], /add --router-queue-threshold/],
      [
        ['x.jsonl', '--workers', '2', '--router-queue-threshold', '0', '--router-queue-policy', 'sjf'],
        /--router-queue-policy takes fcfs or wspt, got "sjf"/,
      ],
      [['x.jsonl', '--workers', '2', '--router-queue-threshold=-1'], /--router-queue-threshold must be ≥ 0/],
    ];
    for (const [args, message] of cases) {
      const { code, stderr } = await dhw(['replay', ...args]);
      assert.equal(code, 2, `${args.join(' ')}: ${stderr}`);
      assert.match(stderr, message, args.join(' '));
    }
  });

  it('reports a bad synthetic setting as a config error (exit 1) naming the flag', async () => {
    const { code, stderr } = await dhw(['replay', '--synthetic', 'mixed', '--long-fraction', '1.5']);
    assert.equal(code, 1);
    assert.match(stderr, /--long-fraction must be between 0 and 1/);
  });
});
