/**
 * The same concurrency sweep against the mocker (`src/mocker`): the real scheduler and KV cache, with each
 * step's duration taken from Dynamo's timing model, a polynomial fitted on a GPU. There a decode step costs
 * about the same whether it carries 1 sequence or 64 (the weights are streamed once per step), which is the
 * memory-bound behaviour batching exploits. Like benchmarking a load balancer against a simulated backend
 * whose latency curve was measured on the real one.
 */
import { decodePhase, runConcurrentBatch } from '../../../bench/lib/concurrent-batch.ts';
import { benchRequest, syntheticPrompt } from '../../../bench/lib/prompts.ts';
import { MockEngine } from '../../../src/mocker/index.ts';
import { note, printTable } from '../../lib/lab-kit.ts';

export async function mockerSweep(
  levels: readonly number[],
  maxTokens: number,
  promptTokens: number,
): Promise<Array<[number, number]>> {
  const engine = new MockEngine({ maxNumSeqs: Math.max(...levels), speedupRatio: 1 });
  try {
    const rows: (string | number)[][] = [];
    const curve: Array<[number, number]> = [];
    let base = 0;
    for (const n of levels) {
      const requests = Array.from({ length: n }, (_, i) =>
        benchRequest(
          `mock-${n}-${i}`,
          syntheticPrompt(promptTokens, 5000 + n * 100 + i, engine.info.vocabSize),
          maxTokens,
        ),
      );
      const decode = decodePhase((await runConcurrentBatch(engine, requests)).steps);
      base ||= decode.tokensPerSec;
      curve.push([n, decode.tokensPerSec]);
      rows.push([
        n,
        Math.round(decode.tokensPerSec),
        Math.round(decode.tokensPerSec / n),
        decode.meanStepMs.toFixed(2),
        `${(decode.tokensPerSec / base).toFixed(1)}×`,
      ]);
    }
    printTable(['concurrency', 'aggregate decode tok/s', 'per-stream tok/s', 'step ms', 'vs N=1'], rows);
    note(
      'Mocker (GPU-fitted timing model): the step time hardly moves with the batch, so aggregate throughput ' +
        'grows almost linearly with concurrency while each stream keeps its speed.',
    );
    return curve;
  } finally {
    await engine.close();
  }
}
