import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeMs, prefillMs } from '../mocker/index.ts';
import { svgProblems } from '../util/svg-check.ts';
import { ReplayConfigError } from './errors.ts';
import { summarizeReplay, tpotOf, ttftOf } from './metrics.ts';
import { renderReplayChart } from './plot.ts';
import { type ReplayOptions, runReplay } from './replay-run.ts';
import { formatReplayTable } from './report.ts';
import { sharedPrefixTrace } from './testing/replay-kit.ts';
import type { TraceRecord } from './trace.ts';

const close = (a: number, b: number, what: string) =>
  assert.ok(Math.abs(a - b) < 1e-6, `${what}: ${a} vs ${b}`);
const one = (timestampMs: number, inputLength: number, outputLength: number, id = 7): TraceRecord => ({
  line: 1,
  timestampMs,
  inputLength,
  outputLength,
  hashIds: [id],
});

// 40 requests over 8 shared 4-block documents (2,048 tokens each) plus one unique block each.
const SHARED = sharedPrefixTrace({
  requests: 40,
  documents: 8,
  prefixBlocks: 4,
  suffixBlocks: 1,
  traceBlockSize: 512,
  gapMs: 150,
  outputLength: 12,
});
// 512 blocks of 16 = 8,192 tokens per worker: room for about 3 documents, not all 8.
const SMALL: Omit<ReplayOptions, 'router'> = { workers: 4, numKvBlocks: 512, contextLength: 8192 };

describe('runReplay timing (hand-computable)', () => {
  it('one request on one worker: TTFT is the prefill polynomial, each ITL one decode step', async () => {
    // 100 prompt tokens, 3 output tokens, 100 KV blocks: decode steps run with 7 of 100 blocks in use.
    const result = await runReplay([one(1000, 100, 3)], {
      router: 'round-robin',
      workers: 1,
      numKvBlocks: 100,
      timeScale: 0.5,
    });
    const [r] = result.records;
    assert.equal(r!.arrivalMs, 500); // timestamp × time scale
    close(ttftOf(r!), prefillMs(100), 'TTFT');
    assert.equal(r!.outputTokens, 3);
    assert.equal(result.itlsMs.length, 2);
    for (const itl of result.itlsMs) close(itl, decodeMs(0.07), 'ITL');
    close(tpotOf(r!)!, decodeMs(0.07), 'TPOT');
    close(r!.finishMs - r!.arrivalMs, prefillMs(100) + 2 * decodeMs(0.07), 'E2E');
    const m = summarizeReplay(result);
    assert.equal(m.prefixHitRate, 0);
    assert.equal(m.completed, 1);
    assert.ok(Math.abs(m.simulatedS! - (prefillMs(100) + 2 * decodeMs(0.07)) / 1000) < 1e-3);
  });

  it('a speedup ratio divides every step; the second identical prompt is served from cache', async () => {
    const result = await runReplay([one(0, 100, 2), one(10_000, 100, 2)], {
      router: 'kv',
      workers: 1,
      numKvBlocks: 100,
      speedupRatio: 4,
    });
    const [a, b] = result.records;
    close(ttftOf(a!), prefillMs(100) / 4, 'cold TTFT');
    assert.equal(b!.cachedTokens, 96); // 6 full blocks; the last token is always computed
    close(ttftOf(b!), prefillMs(4) / 4, 'warm TTFT');
    assert.equal(b!.predictedCachedTokens, 96);
  });

  it('workers step concurrently in virtual time: simultaneous arrivals see the same TTFT', async () => {
    // A third request arrives on w0 while it decodes; w1 starts fresh at the same moment.
    const trace = [one(0, 300, 40, 1), one(0, 300, 40, 2), one(100, 300, 5, 3)];
    const result = await runReplay(trace, { router: 'round-robin', workers: 3, numKvBlocks: 1000 });
    const [a, b, c] = result.records;
    assert.deepEqual(
      result.records.map((r) => r.workerId),
      ['w0', 'w1', 'w2'],
    );
    close(ttftOf(a!), prefillMs(300), 'first');
    close(ttftOf(b!), prefillMs(300), 'second, same time, other worker');
    close(ttftOf(c!), prefillMs(300), 'third, later, idle worker');
  });

  it('counts a prompt longer than the context as rejected, not timed', async () => {
    const result = await runReplay([one(0, 500, 2, 1), one(0, 100, 2, 2)], {
      router: 'round-robin',
      workers: 1,
      contextLength: 256,
      numKvBlocks: 64,
    });
    const m = summarizeReplay(result);
    assert.equal(m.rejected, 1);
    assert.equal(m.completed, 1);
    assert.match(result.records[0]!.rejected!, /maximum context length is 256 tokens/);
    assert.equal(m.promptTokens, 100);
  });

  it('refuses options that cannot simulate', async () => {
    await assert.rejects(runReplay([one(0, 10, 1)], { router: 'kv', workers: 0 }), ReplayConfigError);
    await assert.rejects(
      runReplay([one(0, 10, 1)], { router: 'kv', workers: 1, speedupRatio: 0 }),
      /speedup ratio must be > 0/,
    );
  });
});

describe('runReplay routing', () => {
  it('is deterministic for a seed: two runs give identical metrics and records', async () => {
    const run = async () => {
      const result = await runReplay(SHARED, { ...SMALL, router: 'random', seed: 3 });
      const { wallS: _wall, ...metrics } = summarizeReplay(result);
      return { metrics, records: result.records, itls: result.itlsMs };
    };
    const first = await run();
    assert.deepEqual(await run(), first);
    assert.equal(JSON.stringify((await run()).metrics), JSON.stringify(first.metrics));
  });

  it('kv routing finds the shared prefixes that round-robin scatters', async () => {
    const kv = summarizeReplay(await runReplay(SHARED, { ...SMALL, router: 'kv' }));
    const rr = summarizeReplay(await runReplay(SHARED, { ...SMALL, router: 'round-robin' }));
    assert.equal(kv.completed, 40);
    assert.equal(rr.completed, 40);
    assert.ok(
      kv.prefixHitRate! > rr.prefixHitRate! + 0.15,
      `kv ${kv.prefixHitRate} vs rr ${rr.prefixHitRate}`,
    );
    assert.ok(kv.ttftMs.mean! < rr.ttftMs.mean!, `kv ${kv.ttftMs.mean} vs rr ${rr.ttftMs.mean}`);
    // With instant KV events, the router's expectation is exactly what the worker served.
    assert.equal(kv.predictedHitRate, kv.prefixHitRate);
    assert.deepEqual(
      rr.workers.map((w) => w.requests),
      [10, 10, 10, 10],
    );
    const table = formatReplayTable([rr, kv]);
    assert.match(table, /\| metric \| round-robin \| kv \|/);
    assert.match(table, /prefix hit rate \(served\)/);
  });

  it('runs every built-in policy and draws a well-formed chart', async () => {
    const results = [];
    for (const router of ['random', 'round-robin', 'prefix-hash', 'least-loaded', 'kv', 'kv-approx']) {
      const result = await runReplay(SHARED.slice(0, 16), { ...SMALL, router });
      assert.equal(result.policy, router);
      assert.equal(summarizeReplay(result).completed, 16);
      results.push(result);
    }
    const svg = renderReplayChart(results, 'test replay');
    assert.deepEqual(svgProblems(svg), []);
    assert.match(svg, /kv-approx/);
    assert.match(svg, /Time to first token \(CDF\)/);
  });
});
