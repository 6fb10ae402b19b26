/**
 * "Is this sequence decoding?" has one answer (`Sequence.isDecoding`), read in three places that must agree:
 * the scheduler's order (decodes first), the step's marks (`isPrefill`, which the mocker times as prefill
 * or decode work) and the load metrics the router balances on (decode blocks vs prefill tokens). The case
 * that once split them: a prompt whose last chunk under chunked prefill is exactly one token.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { KvCacheManager } from '../kv/index.ts';
import { DEFAULT_SAMPLING, type EngineRequest } from '../protocols/engine.ts';
import { asRequestId, asWorkerId } from '../protocols/ids.ts';
import type { LoadMetrics } from '../protocols/kv-events.ts';
import { EngineCore } from './engine-core.ts';
import type { StepExecutor } from './model-runner.ts';
import type { SchedulerOutput } from './scheduler.ts';

interface SeenStep {
  /** Request ids in the order the step laid them out, each with its mark and its own answer. */
  entries: { id: string; numNewTokens: number; isPrefill: boolean; isDecoding: boolean }[];
  numPrefillTokens: number;
  /** The load metrics while the step runs: what the router would be told. */
  load: LoadMetrics;
  /** Blocks held by the sequences that are decoding, per the sequences themselves. */
  decodingBlocks: number;
  /** Uncomputed tokens of the sequences that are not (and of those waiting), per the sequences themselves. */
  prefillTokens: number;
}

/** An executor that records each step as the engine sees it and samples token 7 where asked. */
function recordingCore(maxNumBatchedTokens: number) {
  const steps: SeenStep[] = [];
  const kv = new KvCacheManager({ numBlocks: 64, blockSize: 4, enablePrefixCaching: true });
  const executor: StepExecutor = {
    execute(output: SchedulerOutput) {
      const running = core.scheduler.running;
      steps.push({
        entries: output.scheduled.map((e) => ({
          id: e.seq.requestId,
          numNewTokens: e.numNewTokens,
          isPrefill: e.isPrefill,
          isDecoding: e.seq.isDecoding,
        })),
        numPrefillTokens: output.numPrefillTokens,
        load: core.loadMetrics(),
        decodingBlocks: running
          .filter((s) => s.isDecoding)
          .reduce((n, s) => n + kv.getBlockTable(s.requestId).length, 0),
        prefillTokens: [...running.filter((s) => !s.isDecoding), ...core.scheduler.waiting].reduce(
          (n, s) => n + s.numUncomputedTokens,
          0,
        ),
      });
      return output.scheduled.map((e) => (e.sample ? { tokenId: 7, logprob: 0 } : undefined));
    },
  };
  const core: EngineCore = new EngineCore({
    info: { name: 'test', contextLength: 1000, vocabSize: 100, eosTokenIds: [99] },
    kv,
    executor,
    scheduler: { maxNumSeqs: 8, maxNumBatchedTokens },
    kvBytesPerBlock: 1,
    workerId: asWorkerId('w'),
  });
  return { core, steps };
}

function request(id: string, numPromptTokens: number, maxTokens: number): EngineRequest {
  return {
    requestId: asRequestId(id),
    promptTokenIds: Array.from({ length: numPromptTokens }, (_, i) => 1 + (i % 50)),
    sampling: { ...DEFAULT_SAMPLING, temperature: 0 },
    stopping: { maxTokens, stopTokenIds: [], ignoreEos: false },
  };
}

async function drain(stream: AsyncIterable<unknown>): Promise<number> {
  let n = 0;
  for await (const _ of stream) n++;
  return n;
}

describe('isDecoding: one answer for the order, the marks and the load', () => {
  it('a prompt whose last chunk is one token is ordered, marked and counted as prefill; then as decode', async () => {
    // Budget 20: step 1 runs b's prompt (3) and 17 of a's 37; step 2 b's decode and 19 more of a; step 3
    // b's decode and a's LAST prompt token alone; step 4 both decode.
    const { core, steps } = recordingCore(20);
    const counts = await Promise.all([
      drain(core.generate(request('b', 3, 4))),
      drain(core.generate(request('a', 37, 2))),
    ]);
    assert.deepEqual(counts, [4, 2]);
    assert.deepEqual(
      steps.slice(0, 4).map((s) => s.entries.map((e) => [e.id, e.numNewTokens])),
      [
        [
          ['b', 3],
          ['a', 17],
        ],
        [
          ['b', 1],
          ['a', 19],
        ],
        [
          ['b', 1],
          ['a', 1],
        ],
        [
          ['b', 1],
          ['a', 1],
        ],
      ],
    );

    const oneTokenChunk = steps[2]!;
    const [b, a] = oneTokenChunk.entries;
    // Ordered: a's single prompt token is not a decode, so it goes after the decodes, not among them.
    assert.equal(a!.isDecoding, false);
    assert.equal(b!.isDecoding, true);
    // Marked: prefill work, so the step's prefill tokens count it (the mocker times it as prefill).
    assert.equal(a!.isPrefill, true);
    assert.equal(b!.isPrefill, false);
    assert.equal(oneTokenChunk.numPrefillTokens, 1);
    // Counted: the router is told one prefill token outstanding and b's blocks as decode load.
    assert.equal(oneTokenChunk.load.activePrefillTokens, 1);
    assert.equal(oneTokenChunk.load.activeDecodeBlocks, oneTokenChunk.decodingBlocks);
    assert.equal(oneTokenChunk.decodingBlocks, 2, "b's 5 tokens in blocks of 4");

    const bothDecoding = steps[3]!;
    for (const e of bothDecoding.entries) assert.deepEqual([e.isDecoding, e.isPrefill], [true, false]);
    assert.equal(bothDecoding.numPrefillTokens, 0);
    assert.equal(bothDecoding.load.activePrefillTokens, 0);
    assert.equal(bothDecoding.load.activeDecodeBlocks, bothDecoding.decodingBlocks);

    // Every step: decodes first, marks = !isDecoding, and the load agrees with the sequences' own answers.
    for (const step of steps) {
      const marks = step.entries.map((e) => e.isDecoding);
      assert.deepEqual(
        marks,
        [...marks].sort((x, y) => Number(y) - Number(x)),
        'decodes come first',
      );
      for (const e of step.entries) assert.equal(e.isPrefill, !e.isDecoding, `${e.id}'s mark`);
      assert.equal(step.load.activePrefillTokens, step.prefillTokens);
      assert.equal(step.load.activeDecodeBlocks, step.decodingBlocks);
    }
    await core.close();
  });
});
