import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  DEFAULT_SAMPLING,
  type EngineOutput,
  type EngineRequest,
  explainEngineOutput,
  explainEngineRequest,
  FINISH_REASONS,
  isEngineOutput,
  isEngineRequest,
  isFinishReason,
} from './engine.ts';

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
  const extras = {
    ...valid,
    sampling: { ...valid.sampling, logitBias: [[5, -100]] },
    guidedDecoding: { schema: '{"type":"object"}', acceptedTokenIds: [3] },
  };
  assert.equal(explainEngineRequest(JSON.parse(JSON.stringify(extras))), undefined);
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
    [{ ...valid, sampling: { ...valid.sampling, logitBias: [[5, 'x']] } }, /logitBias/],
    [{ ...valid, sampling: { ...valid.sampling, logitBias: { 5: 1 } } }, /logitBias/],
    [{ ...valid, sampling: { ...valid.sampling, logitBias: [[-1, 1]] } }, /logitBias/],
    [{ ...valid, guidedDecoding: { schema: {} } }, /guidedDecoding/],
    [{ ...valid, guidedDecoding: { schema: '{}', acceptedTokenIds: [1.5] } }, /guidedDecoding/],
  ];
  for (const [payload, why] of cases) {
    assert.equal(isEngineRequest(payload), false, JSON.stringify(payload));
    assert.match(explainEngineRequest(payload) ?? '', why);
  }
});

test('FINISH_REASONS lists the four ways a request ends; isFinishReason accepts exactly those', () => {
  assert.deepEqual([...FINISH_REASONS], ['stop', 'length', 'abort', 'error']);
  for (const reason of FINISH_REASONS) assert.equal(isFinishReason(reason), true);
  for (const other of ['STOP', 'eos', '', null, undefined, 0]) assert.equal(isFinishReason(other), false);
});

const output: EngineOutput = {
  requestId: 'req-1' as EngineOutput['requestId'],
  tokenId: 42,
  logprob: -0.5,
  topLogprobs: [{ tokenId: 42, logprob: -0.5 }],
  finishReason: 'length',
  numCachedTokens: 16,
};

test('isEngineOutput accepts what a worker streams, also with optional fields absent or null', () => {
  const wire = JSON.parse(JSON.stringify(output));
  assert.equal(isEngineOutput(wire), true);
  assert.equal(explainEngineOutput(wire), undefined);
  assert.equal(isEngineOutput({ tokenId: 0, numCachedTokens: 0 }), true); // mid-stream, no requestId
  assert.equal(
    isEngineOutput({ ...wire, finishReason: null, logprob: null, topLogprobs: null }),
    true,
    'null where we would leave a field out',
  );
  assert.equal(isEngineOutput({ ...wire, tokenId: 0xffffffff }), true);
  assert.equal(isEngineOutput({ ...wire, queueMs: 12.5 }), true, 'a first output with its queue time');
  assert.equal(isEngineOutput({ ...wire, queueMs: null }), true);
});

test('isEngineOutput rejects a stream item that breaks the contract, and says which field', () => {
  const cases: [unknown, RegExp][] = [
    [null, /JSON object/],
    [[output], /JSON object/],
    ['42', /JSON object/],
    [{ ...output, tokenId: -1 }, /tokenId/],
    [{ ...output, tokenId: 1.5 }, /tokenId/],
    [{ ...output, tokenId: 0x1_0000_0000 }, /tokenId/],
    [{ ...output, tokenId: '42' }, /tokenId/],
    [{ ...output, numCachedTokens: undefined }, /numCachedTokens/],
    [{ ...output, numCachedTokens: -3 }, /numCachedTokens/],
    [{ ...output, finishReason: 'eos' }, /finishReason must be one of stop, length, abort, error/],
    [{ ...output, logprob: '-0.5' }, /logprob/],
    [{ ...output, topLogprobs: {} }, /topLogprobs/],
    [{ ...output, requestId: 7 }, /requestId/],
    [{ ...output, queueMs: -1 }, /queueMs/],
    [{ ...output, queueMs: '3' }, /queueMs/],
  ];
  for (const [item, why] of cases) {
    assert.equal(isEngineOutput(item), false, JSON.stringify(item));
    assert.match(explainEngineOutput(item) ?? '', why);
  }
});
