/**
 * Layer-wise KV streaming and the link-aware decision rule in a disaggregated replay, hand-computed from
 * the mocker's timing model: one request alone on an idle cluster, so every millisecond is accounted for.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeMs, layerwiseExposedMs, prefillMs } from '../mocker/index.ts';
import { parseLinkSpec, transferMs } from '../util/link-spec.ts';
import { ReplayConfigError } from './errors.ts';
import { ttftOf } from './metrics.ts';
import { runReplay } from './replay-run.ts';
import type { TraceRecord } from './trace.ts';

const close = (a: number, b: number, what: string) =>
  assert.ok(Math.abs(a - b) < 1e-6, `${what}: ${a} vs ${b}`);
const BLOCK = 16;
const KV_BYTES = 131_072;
const one = (n: number): TraceRecord => ({
  line: 1,
  timestampMs: 0,
  inputLength: n,
  outputLength: 2,
  hashIds: Array.from({ length: Math.ceil(n / 512) }, (_, i) => 100 + i),
});
const pullBytes = (n: number) => Math.ceil((n - 1) / BLOCK) * BLOCK * KV_BYTES;
const lastTokenMs = (n: number) => decodeMs(Math.ceil(n / BLOCK) / 1000);
const cluster = { router: 'round-robin', prefillWorkers: 1, decodeWorkers: 1, numKvBlocks: 1000 };

describe('layer-wise KV streaming (replay)', () => {
  it('the exposed pull is what is left of a stream that overlapped the prefill: link-bound and compute-bound', async () => {
    for (const link of ['25gbit,10us', '400gbit,10us']) {
      const [whole] = (await runReplay([one(4000)], { ...cluster, link })).records;
      const [layerwise] = (await runReplay([one(4000)], { ...cluster, link, kvTransferMode: 'layerwise' }))
        .records;
      const t = transferMs(parseLinkSpec(link), pullBytes(4000));
      const w = prefillMs(4000);
      close(whole!.transferMs!, t, `${link} whole`);
      const exposed = Math.max(w / 32 + t - w, t / 32);
      close(layerwise!.transferMs!, exposed, `${link} layerwise: max(W/L + T − W, T/L)`);
      close(layerwiseExposedMs(t, w, 32), exposed, 'the exported formula');
      close(ttftOf(layerwise!), w + exposed + lastTokenMs(4000), `${link} layerwise TTFT`);
      assert.ok(ttftOf(layerwise!) < ttftOf(whole!));
      assert.equal(layerwise!.transferBytes, whole!.transferBytes, 'the same bytes move');
    }
  });

  it("link-aware keeps a prompt local when the hand-off would cost more than its prefill; Dynamo's rule does not", async () => {
    const slow = { ...cluster, link: '10gbit,10us' }; // 4000 tokens = 500 MiB = 420 ms > 84 ms of prefill
    const [dynamo] = (await runReplay([one(4000)], slow)).records;
    const [aware] = (await runReplay([one(4000)], { ...slow, disaggRule: 'link-aware' })).records;
    assert.equal(dynamo!.remotePrefill, true);
    assert.equal(aware!.remotePrefill, false);
    assert.equal(aware!.disaggReason, 'transfer_slower_than_local');
    close(ttftOf(aware!), prefillMs(4000), 'local prefill on the idle decode worker');
    const fast = { ...cluster, link: '400gbit,10us', disaggRule: 'link-aware' as const };
    const [remote] = (await runReplay([one(4000)], fast)).records;
    assert.equal(remote!.remotePrefill, true, 'a fast link makes the hand-off cheaper than the prefill');
  });

  it('refuses unknown modes and rules, and both flags on an aggregated replay', async () => {
    await assert.rejects(
      runReplay([one(100)], { ...cluster, kvTransferMode: 'streaming' as never }),
      (err: Error) =>
        err instanceof ReplayConfigError && /kvTransferMode must be whole or layerwise/.test(err.message),
    );
    await assert.rejects(
      runReplay([one(100)], { ...cluster, disaggRule: 'fast' as never }),
      (err: Error) =>
        err instanceof ReplayConfigError && /disaggRule must be dynamo or link-aware/.test(err.message),
    );
    await assert.rejects(
      runReplay([one(100)], { router: 'kv', workers: 2, kvTransferMode: 'layerwise' }),
      /kvTransferMode only apply to a disaggregated replay/,
    );
  });
});
