import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  DEFAULT_SAMPLING,
  type EngineOutput,
  type EngineRequest,
  type SamplingParams,
} from '../protocols/engine.ts';
import { asRequestId } from '../protocols/ids.ts';
import { InvalidRequestError } from '../util/errors.ts';
import { defaultModelDir } from '../util/paths.ts';
import type { StepEvent } from './engine-core.ts';
import { type EngineOptions, LlmEngine } from './llm-engine.ts';

interface GoldenSample {
  prompt_ids: number[];
  greedy_ids: number[];
}
const golden = JSON.parse(readFileSync(join(defaultModelDir, 'golden.json'), 'utf8')) as {
  samples: GoldenSample[];
};
const EOS = 2;
const GREEDY: SamplingParams = { ...DEFAULT_SAMPLING, temperature: 0 };

let counter = 0;
function request(prompt: number[], maxTokens: number, over: Partial<EngineRequest> = {}): EngineRequest {
  return {
    requestId: asRequestId(`t${counter++}`),
    promptTokenIds: prompt,
    sampling: GREEDY,
    stopping: { maxTokens, stopTokenIds: [EOS], ignoreEos: false },
    ...over,
  };
}

async function collect(engine: LlmEngine, req: EngineRequest): Promise<EngineOutput[]> {
  const outs: EngineOutput[] = [];
  for await (const out of engine.generate(req)) outs.push(out);
  return outs;
}
const ids = (outs: EngineOutput[]) => outs.map((o) => o.tokenId);

/** 16 prompts of mixed lengths: the golden prompts, their prefixes, and variations. */
function mixedPrompts(): number[][] {
  const base = golden.samples.map((s) => s.prompt_ids);
  const prompts = [...base];
  for (const p of base) prompts.push(p.slice(0, Math.max(2, p.length - 6)));
  prompts.push([...base[0]!, ...base[1]!], [...base[2]!, ...base[3]!, ...base[4]!]);
  prompts.push(
    base[1]!.map((t, i) => (i === 3 ? (t + 7) % 2048 : t)),
    base[3]!.slice(4),
  );
  prompts.push([...base[4]!, ...golden.samples[4]!.greedy_ids.slice(0, 10)], [5]);
  assert.equal(prompts.length, 16);
  return prompts;
}

const engines: LlmEngine[] = [];
async function engine(opts: Partial<EngineOptions> = {}): Promise<LlmEngine> {
  const e = await LlmEngine.create({ modelDir: defaultModelDir, numKvBlocks: 256, ...opts });
  engines.push(e);
  return e;
}

describe('LlmEngine (fortune-llama)', () => {
  let reference: LlmEngine;
  const oneAtATime = new Map<number, number[]>();
  before(async () => {
    reference = await engine({ enablePrefixCaching: false, maxNumSeqs: 1 });
    const prompts = mixedPrompts();
    for (let i = 0; i < prompts.length; i++)
      oneAtATime.set(i, ids(await collect(reference, request(prompts[i]!, 20))));
  });
  after(async () => {
    for (const e of engines) await e.close();
  });

  it('reproduces the golden greedy ids, all samples batched together', async () => {
    const e = await engine();
    const runs = golden.samples.map((s) => collect(e, request(s.prompt_ids, s.greedy_ids.length)));
    const outs = await Promise.all(runs);
    golden.samples.forEach((s, i) => {
      assert.deepEqual(ids(outs[i]!), s.greedy_ids, `sample ${i}`);
    });
    const last = outs[0]!.at(-1)!;
    assert.equal(last.finishReason, 'stop'); // golden sample 0 ends with EOS
  });

  it('16 mixed-length prompts batched give the same tokens as one at a time', async () => {
    const e = await engine({ maxNumBatchedTokens: 48 }); // also forces chunked prefill
    const steps: StepEvent[] = [];
    e.onStep((ev) => {
      steps.push(ev);
    });
    const outs = await Promise.all(mixedPrompts().map((p) => collect(e, request(p, 20))));
    outs.forEach((o, i) => {
      assert.deepEqual(ids(o), oneAtATime.get(i), `prompt ${i}`);
    });
    assert.ok(Math.max(...steps.map((s) => s.numSeqs)) >= 8, 'requests were not batched');
    assert.ok(steps.every((s) => s.numTokens <= 48));
    assert.ok(steps.some((s) => s.kvBytesInUse > 0));
  });

  it('a prefix-cache hit gives the same tokens and logprobs as a cold run', async () => {
    const e = await engine();
    const prompt = [...golden.samples[2]!.prompt_ids, ...golden.samples[1]!.prompt_ids]; // 38 tokens
    const cold = await collect(e, request(prompt, 12, { logprobs: 3 }));
    const warm = await collect(e, request(prompt, 12, { logprobs: 3 }));
    assert.equal(cold[0]!.numCachedTokens, 0);
    assert.equal(warm[0]!.numCachedTokens, 32);
    assert.deepEqual(ids(warm), ids(cold));
    warm.forEach((w, i) => {
      assert.ok(Math.abs(w.logprob! - cold[i]!.logprob!) < 1e-4);
      assert.deepEqual(
        w.topLogprobs!.map((t) => t.tokenId),
        cold[i]!.topLogprobs!.map((t) => t.tokenId),
      );
    });
    assert.ok(e.kv.stats().hits >= 1);
  });

  it('preemption (tiny KV cache) does not change outputs', async () => {
    const e = await engine({ numKvBlocks: 8 }); // 128 tokens for 16 sequences of up to 60
    let preempted = 0;
    e.onStep((ev) => (preempted += ev.numPreempted));
    const outs = await Promise.all(mixedPrompts().map((p) => collect(e, request(p, 20))));
    outs.forEach((o, i) => {
      assert.deepEqual(ids(o), oneAtATime.get(i), `prompt ${i}`);
    });
    assert.ok(preempted > 0, 'expected preemptions');
    assert.equal(e.kv.stats().activeBlocks, 0);
  });

  it('break and abort free the request blocks at once', async () => {
    const e = await engine();
    const prompt = golden.samples[0]!.prompt_ids;
    let n = 0;
    for await (const _ of e.generate(
      request(prompt, 500, { stopping: { maxTokens: 500, stopTokenIds: [], ignoreEos: true } }),
    )) {
      assert.ok(e.kv.stats().activeBlocks > 0);
      if (++n === 3) break;
    }
    assert.equal(e.kv.stats().activeBlocks, 0);

    const ac = new AbortController();
    const got: EngineOutput[] = [];
    const stream = e.generate(
      request(prompt, 500, { stopping: { maxTokens: 500, stopTokenIds: [], ignoreEos: true } }),
      ac.signal,
    );
    for await (const out of stream) {
      got.push(out);
      if (got.length === 2) {
        ac.abort();
        assert.equal(e.kv.stats().activeBlocks, 0); // freed synchronously, before the loop ends
      }
    }
    assert.equal(got.length, 2);
    assert.equal(e.loadMetrics().numRunning, 0);
  });

  it('same seed gives the same sampled tokens alone or in a busy batch', async () => {
    const e = await engine();
    const seeded = (seed: number) =>
      request(golden.samples[3]!.prompt_ids, 16, { sampling: { ...DEFAULT_SAMPLING, temperature: 1, seed } });
    const alone = ids(await collect(e, seeded(7)));
    const busy = await Promise.all([
      collect(e, seeded(7)),
      ...golden.samples.map((s) =>
        collect(e, request(s.prompt_ids, 16, { sampling: { ...DEFAULT_SAMPLING, temperature: 1.3 } })),
      ),
    ]);
    assert.deepEqual(ids(busy[0]!), alone);
  });

  it('rejects a prompt longer than the context with the numbers', async () => {
    const e = await engine({ numKvBlocks: 4 }); // 64 tokens of KV < 1024 context
    await assert.rejects(collect(e, request(new Array(70).fill(5), 4)), (err: Error) => {
      assert.ok(err instanceof InvalidRequestError);
      assert.match(err.message, /maximum context length is 64 tokens.*70 tokens/);
      return true;
    });
  });

  it('reports load metrics while running', async () => {
    const e = await engine();
    const seen: number[] = [];
    e.onStep(() => {
      seen.push(e.loadMetrics().numRunning);
    });
    await Promise.all(golden.samples.map((s) => collect(e, request(s.prompt_ids, 5))));
    assert.equal(Math.max(...seen), golden.samples.length);
    const m = e.loadMetrics();
    assert.deepEqual([m.numRunning, m.numWaiting, m.kvUsedBlocks, m.kvTotalBlocks], [0, 0, 0, 256]);
  });
});
