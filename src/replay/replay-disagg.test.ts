import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeMs, prefillMs } from '../mocker/index.ts';
import { parseLinkSpec, transferMs } from '../util/link-spec.ts';
import { ReplayConfigError } from './errors.ts';
import { summarizeReplay, ttftOf } from './metrics.ts';
import { type ReplayResult, runReplay } from './replay-run.ts';
import { formatReplayTable } from './report.ts';
import { mixedTrace } from './synthetic-trace.ts';
import type { TraceRecord } from './trace.ts';

const close = (a: number, b: number, what: string) =>
  assert.ok(Math.abs(a - b) < 1e-6, `${what}: ${a} vs ${b}`);
const KV_BYTES = 131_072; // the default: Llama-3-8B in bf16
const BLOCK = 16;

/** A request of `n` prompt tokens on fresh trace blocks `id·100 …`. */
const one = (timestampMs: number, n: number, outputLength: number, id: number): TraceRecord => ({
  line: id,
  timestampMs,
  inputLength: n,
  outputLength,
  hashIds: Array.from({ length: Math.ceil(n / 512) }, (_, i) => id * 100 + i),
});

/** The pull the contract specifies: blocks [0, ceil((P−1)/bs)) of the prompt, whole blocks. */
const pullBytes = (promptTokens: number) => Math.ceil((promptTokens - 1) / BLOCK) * BLOCK * KV_BYTES;

const byRole = (result: ReplayResult, role: string) => result.workers.filter((w) => w.role === role);
const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

/**
 * The decode worker's step that computes the last prompt token is decode-shaped (one query row over the
 * pulled KV), so the mocker charges it as a decode at the worker's KV usage: `blocks` of `numKvBlocks`.
 */
const lastTokenMs = (promptTokens: number, numKvBlocks: number) =>
  decodeMs(Math.ceil(promptTokens / BLOCK) / numKvBlocks);

describe('runReplay disaggregated (hand-computable)', () => {
  it('a long prompt: prefill worker, then the link, then one prompt token on decode; a short one stays local', async () => {
    const result = await runReplay([one(0, 2000, 3, 1), one(10, 300, 3, 2)], {
      router: 'kv',
      prefillWorkers: 1,
      decodeWorkers: 1,
      numKvBlocks: 1000,
    });
    const [long, short] = result.records;
    const link = parseLinkSpec('25gbit,10us');
    assert.equal(long!.remotePrefill, true);
    assert.equal(long!.disaggReason, 'remote');
    assert.equal(long!.prefillWorkerId, 'p0');
    assert.equal(long!.workerId, 'd0');
    assert.equal(long!.transferBytes, pullBytes(2000)); // 125 blocks = 262,144,000 bytes
    close(long!.transferMs!, transferMs(link, pullBytes(2000)), 'transfer = latency + bytes ÷ bandwidth');
    // Prefill (alone on p0) + the pull + decode's step computing the last prompt token.
    close(
      ttftOf(long!),
      prefillMs(2000) + transferMs(link, pullBytes(2000)) + lastTokenMs(2000, 1000),
      'remote TTFT',
    );
    assert.equal(long!.outputTokens, 3);

    assert.equal(short!.remotePrefill, false);
    assert.equal(short!.disaggReason, 'short_uncached_prompt');
    assert.equal(short!.prefillWorkerId, undefined);
    assert.equal(short!.transferMs, undefined);
    close(ttftOf(short!), prefillMs(300), 'local TTFT on an idle decode worker');

    const [p0] = byRole(result, 'prefill');
    const [d0] = byRole(result, 'decode');
    assert.equal(p0!.prefillTokens, 2000, 'the prefill worker computed the long prompt');
    assert.equal(d0!.prefillTokens, 300 + 1, 'decode: the short prompt and the long one’s last token only');
    assert.equal(p0!.heldAtEnd, 0, 'the pull released the held blocks');
    assert.equal(p0!.requests, 1);
    assert.equal(d0!.requests, 2);
  });

  it('charges the link it is given: 100 Gbit/s with 1 ms latency', async () => {
    const link = '100gbit,1ms';
    const result = await runReplay([one(0, 4000, 2, 1)], {
      router: 'round-robin',
      prefillWorkers: 1,
      decodeWorkers: 1,
      link,
      numKvBlocks: 1000,
    });
    const [r] = result.records;
    close(r!.transferMs!, 1 + (pullBytes(4000) / 12.5e9) * 1000, 'transfer');
    close(ttftOf(r!), prefillMs(4000) + r!.transferMs! + lastTokenMs(4000, 1000), 'TTFT');
  });

  it('a full prefill queue keeps the prompt local, and the decode worker computes it', async () => {
    // Two long prompts at once, one prefill worker, queue limit 1: the second is prefilled on decode.
    const result = await runReplay([one(0, 3000, 2, 1), one(0, 3000, 2, 2)], {
      router: 'round-robin',
      prefillWorkers: 1,
      decodeWorkers: 2,
      maxPrefillQueueSize: 1,
      numKvBlocks: 1000,
    });
    assert.deepEqual(
      result.records.map((r) => r.disaggReason),
      ['remote', 'prefill_queue_full'],
    );
    assert.deepEqual(
      byRole(result, 'decode').map((w) => w.prefillTokens),
      [1, 3000],
    );
    const m = summarizeReplay(result);
    assert.deepEqual(m.disagg!.decisions, { remote: 1, prefill_queue_full: 1 });
    assert.equal(m.disagg!.remoteShare, 0.5);
  });

  it('maxLocalPrefillLength moves the threshold: 0 sends even a short prompt to prefill', async () => {
    const result = await runReplay([one(0, 200, 2, 1)], {
      router: 'kv',
      prefillWorkers: 1,
      decodeWorkers: 1,
      maxLocalPrefillLength: 0,
      numKvBlocks: 1000,
    });
    assert.equal(result.records[0]!.remotePrefill, true);
    assert.equal(byRole(result, 'decode')[0]!.prefillTokens, 1);
  });
});

describe('runReplay disaggregated (held blocks fill the prefill worker)', () => {
  it('a prefill worker parked on held blocks resumes when a slow pull releases them', async () => {
    // 300 blocks of 16 per worker: two held 2,000-token prompts (125 blocks each) leave no room for a
    // third, which waits until the first pull (2 s at 1 Gbit/s) releases its blocks.
    const link = parseLinkSpec('1gbit');
    const result = await runReplay([one(0, 2000, 2, 1), one(10, 2000, 2, 2), one(20, 2000, 2, 3)], {
      router: 'round-robin',
      prefillWorkers: 1,
      decodeWorkers: 3,
      link: '1gbit',
      maxPrefillQueueSize: 10,
      numKvBlocks: 300,
    });
    const [first, , third] = result.records;
    assert.ok(result.records.every((r) => r.remotePrefill && r.outputTokens === 2));
    const firstReleased = prefillMs(2000) + transferMs(link, pullBytes(2000));
    close(ttftOf(first!), firstReleased + lastTokenMs(2000, 300), 'first: prefill, 2 s pull, last token');
    assert.ok(
      third!.firstTokenMs > firstReleased + prefillMs(2000),
      `third prefilled only after the first release: ${third!.firstTokenMs} vs ${firstReleased}`,
    );
    assert.equal(byRole(result, 'prefill')[0]!.heldAtEnd, 0);
  });
});

describe('runReplay disaggregated (a mixed workload)', () => {
  const trace = mixedTrace({
    requests: 60,
    rate: 20,
    longTokens: 4096,
    shortTokens: 200,
    longFraction: 0.3,
    outputTokens: 16,
    seed: 3,
  });
  const options = { router: 'kv', prefillWorkers: 2, decodeWorkers: 3, numKvBlocks: 4096 };

  it('completes every request; decode workers never compute a remote prompt; transfers follow the link', async () => {
    const result = await runReplay(trace, options);
    const link = parseLinkSpec('25gbit,10us');
    assert.equal(result.records.length, 60);
    assert.ok(result.records.every((r) => r.outputTokens === 16 && r.rejected === undefined));
    const remote = result.records.filter((r) => r.remotePrefill);
    const local = result.records.filter((r) => !r.remotePrefill);
    assert.ok(remote.length > 0 && local.length > 0, `${remote.length} remote, ${local.length} local`);
    for (const r of remote) {
      assert.equal(r.inputLength, 4096, 'only long prompts go remote');
      assert.match(r.prefillWorkerId!, /^p[01]$/);
      assert.match(r.workerId, /^d[0-2]$/);
      assert.equal(r.transferBytes, pullBytes(4096));
      close(r.transferMs!, transferMs(link, pullBytes(4096)), 'transfer');
    }
    for (const r of local) {
      // Short prompts stay local by rule; a long one only when both prefill workers had a queue.
      assert.equal(r.disaggReason, r.inputLength === 200 ? 'short_uncached_prompt' : 'prefill_queue_full');
    }
    // Prompt tokens computed: prefill workers exactly the remote prompts; decode workers the local
    // prompts plus one token per remote prompt (no prefix sharing in this workload, so no cache hits).
    assert.equal(
      sum(byRole(result, 'prefill').map((w) => w.prefillTokens)),
      sum(remote.map((r) => r.inputLength)),
    );
    assert.equal(
      sum(byRole(result, 'decode').map((w) => w.prefillTokens)),
      sum(local.map((r) => r.inputLength)) + remote.length,
    );
    assert.deepEqual(
      byRole(result, 'prefill').map((w) => w.heldAtEnd),
      [0, 0],
    );
    assert.equal(result.itlsMs.length, 60 * 15);
  });

  it('is deterministic, and its metrics add a disagg block to the runs[] shape', async () => {
    const a = summarizeReplay(await runReplay(trace, options));
    const b = summarizeReplay(await runReplay(trace, options));
    const { wallS: _a, ...aa } = a;
    const { wallS: _b, ...bb } = b;
    assert.deepEqual(aa, bb);
    const agg = summarizeReplay(await runReplay(trace, { router: 'kv', workers: 5, numKvBlocks: 4096 }));
    assert.equal(agg.disagg, undefined);
    assert.ok(!('disagg' in JSON.parse(JSON.stringify(agg))), 'aggregated JSON unchanged');
    // Same keys apart from the new optional block; the any-router TTFT bound models aggregated workers
    // only, so a disaggregated run leaves it out.
    const { disagg, ...rest } = a;
    const { ttftBoundMs: _bound, ...aggRest } = agg;
    assert.deepEqual(Object.keys(rest).sort(), Object.keys(aggRest).sort());
    assert.deepEqual(Object.keys(disagg!).sort(), [
      'decisions',
      'decodeWorkerTokens',
      'decodeWorkers',
      'fallbacks',
      'kvBytesPerToken',
      'link',
      'prefillWorkerTokens',
      'prefillWorkers',
      'remotePrefills',
      'remoteShare',
      'transferBytes',
      'transferMs',
    ]);
    assert.equal(disagg!.link, '25 Gbit/s, 10 µs');
    assert.equal(disagg!.fallbacks, 0);
    assert.equal(sum(Object.values(disagg!.decisions)), 60);
    assert.equal(disagg!.decisions.remote, disagg!.remotePrefills);
    assert.equal(a.workers.length, 5);
    assert.deepEqual(
      a.workers.map((w) => w.role),
      ['prefill', 'prefill', 'decode', 'decode', 'decode'],
    );
    const table = formatReplayTable([agg, a]);
    assert.match(table, /\| cluster +\| 5 aggregated +\| 2 prefill \+ 3 decode \|/);
    assert.match(table, /\| remote prefills \(share\) +\| - +\| \d+ \(\d+\.\d %\) \|/);
    assert.match(table, /\| KV transfer p99 +\| - +\| [\d.]+ ms \|/);
  });
});

describe('runReplay disaggregated options', () => {
  const t = [one(0, 100, 1, 1)];
  it('refuses a cluster shape that does not add up, naming what to give', async () => {
    await assert.rejects(
      runReplay(t, { router: 'kv', workers: 4, prefillWorkers: 1, decodeWorkers: 3 }),
      /either workers \(aggregated\) or prefillWorkers \+ decodeWorkers/,
    );
    await assert.rejects(
      runReplay(t, { router: 'kv', prefillWorkers: 2 }),
      /needs both prefillWorkers and decodeWorkers/,
    );
    await assert.rejects(
      runReplay(t, { router: 'kv', prefillWorkers: 0, decodeWorkers: 2 }),
      ReplayConfigError,
    );
    await assert.rejects(runReplay(t, { router: 'kv' }), /give workers \(aggregated\) or prefillWorkers/);
    await assert.rejects(
      runReplay(t, { router: 'kv', workers: 2, link: '10gbit' }),
      /link only apply to a disaggregated replay/,
    );
    await assert.rejects(
      runReplay(t, { router: 'kv', prefillWorkers: 1, decodeWorkers: 1, link: '25 furlongs' }),
      (err: Error) => err instanceof ReplayConfigError && /cannot read/.test(err.message),
    );
  });
});
