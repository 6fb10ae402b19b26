/**
 * Many disaggregated requests at once between two mockers, with pulls that finish after a random number
 * of event-loop turns, fail at random, and requests aborted at random points (before, during or after their
 * pull). Whatever happens: every request that was not aborted gets exactly its tokens, and when everything
 * has settled no block is in use on either side and the KV books balance.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { KvConnector, KvLoadPlan, KvLoadResult } from '../engine/index.ts';
import { collect, decodeLeg, nextTurn, prefillLeg, tokenIds } from '../engine/testing/disagg-kit.ts';
import { DEFAULT_SAMPLING, type EngineRequest } from '../protocols/engine.ts';
import { asRequestId } from '../protocols/ids.ts';
import { createRng, type Rng } from '../util/prng.ts';
import { MockEngine } from './mock-engine.ts';
import { pseudoToken } from './mock-executor.ts';

const TOKENS = { vocabSize: 32_000, eosTokenIds: [2], eosProbability: 0 };

/** A pull that takes 0–20 event-loop turns, fails one time in four, and releases the hold when it works. */
class FlakyConnector implements KvConnector {
  pulls = 0;
  failures = 0;
  constructor(
    private readonly rng: Rng,
    private readonly prefill: MockEngine,
  ) {}

  async loadBlocks(plan: KvLoadPlan, signal: AbortSignal): Promise<KvLoadResult> {
    this.pulls++;
    const turns = this.rng.nextInt(21);
    const fails = this.rng.nextFloat() < 0.25;
    for (let i = 0; i < turns; i++) await nextTurn(); // keeps "writing" even if aborted meanwhile
    signal.throwIfAborted();
    if (fails) {
      this.failures++;
      throw new Error('simulated link failure');
    }
    this.prefill.releaseHeld(plan.params.remoteRequestId);
    return { bytes: plan.localBlockIds.length, ms: turns };
  }
}

describe('disaggregated mockers under random pulls, failures and aborts', () => {
  it('never loses a request or a block', async () => {
    const rng = createRng(20261205);
    const prefill = new MockEngine({ speedupRatio: 0, numKvBlocks: 256, workerId: 'prefill-0' });
    const connector = new FlakyConnector(rng, prefill);
    const decode = new MockEngine({
      speedupRatio: 0,
      numKvBlocks: 48,
      maxNumSeqs: 6,
      kvConnector: connector,
    });
    const shared = Array.from({ length: 40 }, (_, i) => 1000 + i); // a common prefix for decode-side hits
    const runs = Array.from({ length: 60 }, async (_, r) => {
      const n = 1 + rng.nextInt(70);
      const prompt = rng.nextFloat() < 0.5 ? [...shared, ...range(n, r * 100)] : range(n, r * 100);
      const maxTokens = 1 + rng.nextInt(6);
      const req: EngineRequest = {
        requestId: asRequestId(`f${r}`),
        promptTokenIds: prompt,
        sampling: DEFAULT_SAMPLING,
        stopping: { maxTokens, stopTokenIds: [2], ignoreEos: false },
      };
      const abortAfterTurns = rng.nextFloat() < 0.3 ? rng.nextInt(25) : -1;
      const prefillOuts = await collect(prefill, prefillLeg(req));
      const ac = new AbortController();
      const decoding = collect(decode, decodeLeg(req, prefillOuts.at(-1)!.kvTransferParams!), ac.signal);
      if (abortAfterTurns >= 0) {
        for (let i = 0; i < abortAfterTurns; i++) await nextTurn();
        ac.abort();
      }
      const outs = await decoding;
      if (abortAfterTurns < 0 || outs.at(-1)?.finishReason !== undefined) {
        assert.deepEqual(
          tokenIds(outs),
          range(maxTokens).map((k) => pseudoToken(req.requestId, prompt.length + k, TOKENS)),
        );
      }
      return req.requestId;
    });
    const ids = await Promise.all(runs);
    while (decode.kv.numActiveBlocks() > 0) await nextTurn(); // aborted pulls still settling
    for (const id of ids) prefill.releaseHeld(id); // failed or aborted pulls never released theirs
    assert.ok(
      connector.pulls > 20 && connector.failures > 0,
      `${connector.pulls} pulls, ${connector.failures} failed`,
    );
    for (const e of [prefill, decode]) {
      assert.equal(e.kv.numActiveBlocks(), 0);
      assert.equal(e.heldRequests(), 0);
      e.kv.checkInvariants();
    }
  });
});

function range(n: number, from = 0): number[] {
  return Array.from({ length: n }, (_, i) => from + i);
}
