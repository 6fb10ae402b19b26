/**
 * The mocker has no model, so no logits for prompt positions: a `promptLogprobs` request is refused with an
 * InvalidRequestError naming `prompt_logprobs` and what does serve it, instead of made-up numbers.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULT_SAMPLING, type EngineRequest } from '../protocols/engine.ts';
import { asRequestId } from '../protocols/ids.ts';
import { InvalidRequestError } from '../util/errors.ts';
import { MockEngine } from './mock-engine.ts';

test('the mocker refuses prompt logprobs, naming the field and the engine that serves them', async () => {
  const mocker = new MockEngine({ speedupRatio: 0 });
  const request: EngineRequest = {
    requestId: asRequestId('prompt-logprobs'),
    promptTokenIds: [1, 2, 3],
    sampling: { ...DEFAULT_SAMPLING, temperature: 0 },
    stopping: { maxTokens: 2, stopTokenIds: [], ignoreEos: true },
    promptLogprobs: 1,
  };
  try {
    await assert.rejects(
      (async () => {
        for await (const _ of mocker.generate(request)) assert.fail('the mocker answered');
      })(),
      (err) =>
        err instanceof InvalidRequestError &&
        err.param === 'prompt_logprobs' &&
        /--engine scratch/.test(err.message),
    );
    // Without it the same request is served.
    const { promptLogprobs: _, ...plain } = request;
    let n = 0;
    for await (const _out of mocker.generate({ ...plain, requestId: asRequestId('plain') })) n++;
    assert.equal(n, 2);
  } finally {
    await mocker.close();
  }
});
