import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULT_SAMPLING, type EngineRequest, explainEngineRequest, isEngineRequest } from './engine.ts';

const valid: EngineRequest = JSON.parse(
  JSON.stringify({
    requestId: 'req-1',
    promptTokenIds: [1, 2, 3],
    sampling: { ...DEFAULT_SAMPLING, temperature: 0, seed: 7 },
    stopping: { maxTokens: 8, stopTokenIds: [2], ignoreEos: false, minTokens: 1 },
    logprobs: 2,
  }),
);

test('isEngineRequest accepts a request after a JSON round trip, with or without optional fields', () => {
  assert.equal(isEngineRequest(valid), true);
  const { logprobs: _, ...noLogprobs } = valid;
  assert.equal(isEngineRequest(noLogprobs), true);
  assert.equal(explainEngineRequest(valid), undefined);
});

test('isEngineRequest rejects what a broken or hostile caller might send, and says why', () => {
  const cases: [unknown, RegExp][] = [
    [null, /JSON object/],
    [[valid], /JSON object/],
    [{ ...valid, requestId: '' }, /requestId/],
    [{ ...valid, promptTokenIds: [1, -1] }, /promptTokenIds/],
    [{ ...valid, promptTokenIds: [1.5] }, /promptTokenIds/],
    [{ ...valid, promptTokenIds: '1,2' }, /promptTokenIds/],
    [{ ...valid, sampling: { ...valid.sampling, temperature: -1 } }, /sampling/],
    [{ ...valid, sampling: { ...valid.sampling, topP: 0 } }, /sampling/],
    [{ ...valid, sampling: { ...valid.sampling, temperature: 'hot' } }, /sampling/],
    [{ ...valid, sampling: { ...valid.sampling, seed: 1.5 } }, /sampling/],
    [{ ...valid, stopping: { ...valid.stopping, maxTokens: 0 } }, /stopping/],
    [{ ...valid, stopping: { ...valid.stopping, ignoreEos: 'no' } }, /stopping/],
    [{ ...valid, stopping: { maxTokens: 4, ignoreEos: false } }, /stopping/],
    [{ ...valid, logprobs: -1 }, /logprobs/],
  ];
  for (const [payload, why] of cases) {
    assert.equal(isEngineRequest(payload), false, JSON.stringify(payload));
    assert.match(explainEngineRequest(payload) ?? '', why);
  }
});
