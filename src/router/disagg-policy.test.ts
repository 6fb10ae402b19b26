import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checkDisaggOptions, DISAGG_DEFAULTS, decideDisaggregation } from './disagg-policy.ts';

const base = { promptTokens: 8000, cachedOnDecode: 0, prefillQueueSize: 0, prefillWorkers: 2 };

describe('decideDisaggregation', () => {
  it('sends a long uncached prompt to a prefill worker when the queue is short', () => {
    assert.deepEqual(decideDisaggregation(base), { remote: true, reason: 'remote', uncachedTokens: 8000 });
  });

  it('prefills locally when there is no prefill worker', () => {
    assert.equal(decideDisaggregation({ ...base, prefillWorkers: 0 }).reason, 'no_prefill_workers');
  });

  it('counts only what the decode worker lacks (Dynamo: prompt − prefix hit > 1000)', () => {
    assert.equal(decideDisaggregation({ ...base, promptTokens: 1000 }).reason, 'short_uncached_prompt');
    assert.equal(decideDisaggregation({ ...base, promptTokens: 1001 }).remote, true);
    const cached = decideDisaggregation({ ...base, cachedOnDecode: 7200 });
    assert.deepEqual(cached, { remote: false, reason: 'short_uncached_prompt', uncachedTokens: 800 });
  });

  it('prefills locally when the prefill queue is full (Dynamo: queue ≥ 2)', () => {
    assert.equal(decideDisaggregation({ ...base, prefillQueueSize: 1 }).remote, true);
    assert.equal(decideDisaggregation({ ...base, prefillQueueSize: 2 }).reason, 'prefill_queue_full');
  });

  it('takes its thresholds from flags', () => {
    const always = { maxLocalPrefillLength: 0, maxPrefillQueueSize: 1_000_000 };
    assert.equal(
      decideDisaggregation({ ...base, promptTokens: 1, prefillQueueSize: 99 }, always).remote,
      true,
    );
    assert.doesNotThrow(() => checkDisaggOptions(DISAGG_DEFAULTS));
    assert.throws(
      () => checkDisaggOptions({ ...DISAGG_DEFAULTS, maxPrefillQueueSize: -1 }),
      /--max-prefill-queue-size must be a non-negative integer/,
    );
  });
});

describe("decideDisaggregation, link-aware rule (an option next to Dynamo's)", () => {
  const linkAware = { ...DISAGG_DEFAULTS, rule: 'link-aware' as const };
  it('keeps the prompt local when the hand-off would expose more time than the local prefill', () => {
    const slow = { ...base, exposedTransferMs: 344, localPrefillMs: 169 };
    assert.deepEqual(decideDisaggregation(slow, linkAware), {
      remote: false,
      reason: 'transfer_slower_than_local',
      uncachedTokens: 8000,
    });
    assert.equal(
      decideDisaggregation(slow).remote,
      true,
      "Dynamo's rule (the default) ignores the estimates",
    );
  });

  it('goes remote when the hand-off is cheaper, and still applies both of Dynamo’s thresholds first', () => {
    const fast = { ...base, exposedTransferMs: 21, localPrefillMs: 169 };
    assert.equal(decideDisaggregation(fast, linkAware).reason, 'remote');
    assert.equal(
      decideDisaggregation({ ...fast, promptTokens: 500 }, linkAware).reason,
      'short_uncached_prompt',
    );
    assert.equal(
      decideDisaggregation({ ...fast, prefillQueueSize: 2 }, linkAware).reason,
      'prefill_queue_full',
    );
    assert.equal(decideDisaggregation(base, linkAware).reason, 'remote', 'no estimates: Dynamo’s decision');
  });
});
