/**
 * What the engine adds to a single-stream decode step (issue 16 item 2): one greedy request through
 * `LlmEngine` (scheduler, KV manager, sampler, the step loop's setImmediate) against the bare forward pass
 * of `SequenceSession` on the same model files, same thread count and dtype. Three figures per token:
 * the engine's own step time (forward + sampling, as StepEvent.stepMs reports it), the wall time per token
 * of its decode phase (adds the loop: scheduling, outputs, the event-loop turn), and the bare step.
 *
 * Like timing a syscall with and without the VFS layers above the driver.
 */
import { performance } from 'node:perf_hooks';
import { LlmEngine } from '../../src/engine/index.ts';
import { argmax, LlamaModel, SequenceSession } from '../../src/model/index.ts';
import type { WeightDtype } from '../../src/model/kernels/index.ts';
import { median } from '../../src/util/stats.ts';
import { decodePhase, runConcurrentBatch } from './concurrent-batch.ts';
import { benchRequest, syntheticPrompt } from './prompts.ts';

export interface EngineOverhead {
  /** median over rounds, µs per decoded token */
  bareStepUs: number;
  engineStepUs: number;
  engineWallUs: number;
}

/** `rounds` rounds of `tokens` decoded tokens after an 8-token prompt, engine and bare alternating. */
export async function measureEngineOverhead(
  dir: string,
  opts: { threads: number; weightDtype: WeightDtype; tokens: number; rounds: number },
): Promise<EngineOverhead> {
  const engine = await LlmEngine.create({
    modelDir: dir,
    maxNumSeqs: 1,
    enablePrefixCaching: false,
    threads: opts.threads,
    weightDtype: opts.weightDtype,
  });
  const model = await LlamaModel.load(dir, { threads: opts.threads, weightDtype: opts.weightDtype });
  const prompt = syntheticPrompt(8, 2, model.config.vocabSize);
  const bare: number[] = [];
  const step: number[] = [];
  const wall: number[] = [];
  try {
    for (let r = 0; r <= opts.rounds; r++) {
      const phase = decodePhase(
        (await runConcurrentBatch(engine, [benchRequest(`o${r}`, prompt, opts.tokens)])).steps,
      );
      const session = new SequenceSession(model, { maxTokens: prompt.length + opts.tokens });
      let token = argmax(session.feed(prompt));
      const t0 = performance.now();
      for (let i = 1; i < opts.tokens; i++) token = argmax(session.feed([token]));
      const bareUs = ((performance.now() - t0) * 1000) / (opts.tokens - 1);
      if (r === 0) continue; // warm-up
      bare.push(bareUs);
      step.push(phase.meanStepMs * 1000);
      wall.push((phase.wallMs * 1000) / phase.tokens);
    }
  } finally {
    await engine.close();
    await model.close();
  }
  return { bareStepUs: median(bare), engineStepUs: median(step), engineWallUs: median(wall) };
}
