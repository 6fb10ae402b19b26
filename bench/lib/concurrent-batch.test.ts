import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodePhase, type TimedStep } from './concurrent-batch.ts';

function step(endedAt: number, numSeqs: number, numPrefillTokens: number, stepMs = 8): TimedStep {
  return {
    step: 0,
    stepMs,
    numTokens: numSeqs + numPrefillTokens - (numPrefillTokens > 0 ? 1 : 0),
    numPrefillTokens,
    numSeqs,
    numPreempted: 0,
    numFinished: 0,
    numWaiting: 0,
    numRunning: numSeqs,
    kvBlocksInUse: 0,
    kvBytesInUse: 0,
    kvTotalBlocks: 1,
    kvBlockSize: 16,
    kvBytesPerBlock: 1024,
    endedAt,
  };
}

describe('decodePhase', () => {
  it('starts after the last step with prefill tokens and counts one token per decoding sequence', () => {
    // step 1: prefill seq A; step 2: prefill B..D + decode A; steps 3-5: decode 4, 4, 3 sequences.
    const steps = [step(100, 1, 32), step(200, 4, 96), step(210, 4, 0), step(220, 4, 0), step(230, 3, 0)];
    const phase = decodePhase(steps);
    assert.equal(phase.tokens, 11);
    assert.equal(phase.wallMs, 30);
    assert.ok(Math.abs(phase.tokensPerSec - (11 / 30) * 1000) < 1e-9);
    assert.equal(phase.steps, 3);
    assert.ok(Math.abs(phase.meanBatchSize - 11 / 3) < 1e-9);
    assert.equal(phase.meanStepMs, 8);
  });

  it('reports no throughput when there was no decode step (max_tokens 1)', () => {
    const phase = decodePhase([step(100, 2, 64)]);
    assert.equal(phase.tokens, 0);
    assert.ok(Number.isNaN(phase.tokensPerSec));
    assert.ok(Number.isNaN(phase.meanStepMs));
  });
});
