import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { SchedulerOutput } from '../engine/index.ts';
import { chargedShape } from './mock-executor.ts';

type Entry = SchedulerOutput['scheduled'][number];
const entry = (numNewTokens: number, isPrefill: boolean, sample: boolean): Entry =>
  ({ seq: undefined as never, numNewTokens, isPrefill, sample }) as Entry;

describe('chargedShape: what the mocker charges a step for', () => {
  it('charges prompt chunks as prefill tokens and one-token decodes as decode sequences', () => {
    assert.deepEqual(chargedShape([entry(512, true, false), entry(1, false, true), entry(1, false, true)]), {
      numPrefillTokens: 512,
      numDecodeSeqs: 2,
    });
  });

  it('charges a one-token chunk that ends its prompt (the last token after a KV pull) as a decode', () => {
    assert.deepEqual(chargedShape([entry(1, true, true), entry(1, false, true)]), {
      numPrefillTokens: 0,
      numDecodeSeqs: 2,
    });
  });

  it('keeps a one-token chunk that does not end its prompt a prefill (chunked prefill cut at the budget)', () => {
    assert.deepEqual(chargedShape([entry(1, true, false)]), { numPrefillTokens: 1, numDecodeSeqs: 0 });
  });
});
