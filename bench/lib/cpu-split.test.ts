/**
 * The CPU split runs every engine the same number of times, alternating, and attributes the CPU a run
 * burns to the thread that burned it: work done on the main thread shows as 'main', and a run's CPU
 * includes its prompt's.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LlamaModel } from '../../src/model/index.ts';
import { defaultModelDir } from '../../src/util/paths.ts';
import { formatCpuSplit, measureCpuSplit, oursSplitRunner, type SplitRunner } from './cpu-split.ts';

/** A runner that burns CPU on the main thread (a run 5× its prompt) and records when it was called. */
function busyRunner(label: string, calls: string[]): SplitRunner {
  /** burns `ms` of this thread's CPU (not wall time: on a busy box the run is preempted, not shortened) */
  const burn = (ms: number): void => {
    const start = process.cpuUsage();
    for (;;) {
      const used = process.cpuUsage(start);
      if (used.user + used.system >= ms * 1000) return;
    }
  };
  return {
    label,
    prompt: async () => {
      calls.push(`${label}:prompt`);
      burn(5);
    },
    run: async () => {
      calls.push(`${label}:run`);
      burn(25);
      return 1;
    },
  };
}

describe('cpu split', () => {
  it('alternates the engines, reverses the order every round, and counts main-thread work as main', async () => {
    const calls: string[] = [];
    const splits = await measureCpuSplit([busyRunner('a', calls), busyRunner('b', calls)], 2);
    const runs = calls.filter((c) => c.endsWith(':run'));
    assert.deepEqual(
      runs,
      ['a:run', 'b:run', 'a:run', 'b:run', 'b:run', 'a:run'],
      'warm-up, then a b, then b a',
    );
    for (const s of splits) {
      assert.ok(s.runCpuMs >= s.promptCpuMs, 'a run includes its prompt');
      assert.ok(s.runCpuMs > 0 && s.runWallMs > 0);
      if (process.platform === 'linux')
        assert.ok((s.threadCpuMs.main ?? 0) > 0, 'busy work is on the main thread');
    }
    const text = formatCpuSplit(splits, 32);
    assert.match(text, /^a: run \(8-token prompt \+ 32\)/m);
    assert.match(text, /^b: run .*threads over all rounds: /m);
  });

  it('runs our model: a prompt and a decode of the requested length', async () => {
    const model = await LlamaModel.load(defaultModelDir, { threads: 1, weightDtype: 'q8_0' });
    try {
      const [s] = await measureCpuSplit([oursSplitRunner('ours', model, [1, 2, 3, 4, 5, 6, 7, 8], 4)], 1);
      assert.equal(s!.label, 'ours');
      assert.ok(Number.isFinite(s!.decodeTokensPerSec) && s!.decodeTokensPerSec > 0);
      assert.ok(s!.runCpuMs > 0 && s!.promptCpuMs > 0, 'both phases were measured');
    } finally {
      await model.close();
    }
  });
});
