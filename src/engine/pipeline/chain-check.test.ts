import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { chainProblem } from './pipeline-executor.ts';
import type { StageReport } from './stage-wire.ts';

function report(stage: number, layers: [number, number], over: Partial<StageReport> = {}): StageReport {
  return {
    stage,
    pid: 100 + stage,
    host: `h${stage}:7100`,
    model: '6x256x2048',
    numStages: 3,
    layers,
    embed: stage === 0,
    head: stage === 2,
    weightBytes: 1,
    kvBytes: 1,
    rssBytes: 1,
    ...over,
  };
}

describe('chainProblem: stages started by hand must fit together', () => {
  const good = [report(0, [0, 2]), report(1, [2, 4]), report(2, [4, 6])];

  it('accepts contiguous layers of one model and one split', () => {
    assert.equal(chainProblem(good), null);
  });

  it('names the stage that does not fit, and why', () => {
    const other = [good[0]!, report(1, [2, 4], { model: '30x576x49152' }), good[2]!];
    assert.match(chainProblem(other)!, /stage 1 \(pid 101, h1:7100\) loaded a 30x576x49152 model/);
    const split = [good[0]!, report(1, [2, 4], { numStages: 2 }), good[2]!];
    assert.match(chainProblem(split)!, /stage 1 .* was started for 2 stages, the pipeline has 3/);
    const gap = [good[0]!, report(1, [3, 4]), good[2]!];
    assert.match(chainProblem(gap)!, /holds layers from 3, expected 2/);
    const swapped = [good[0]!, good[2]!, good[1]!];
    assert.match(chainProblem(swapped)!, /stage 1 .* says it is stage 2/);
  });
});
