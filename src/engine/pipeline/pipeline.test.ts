/**
 * Pipeline parallelism with real stage processes (spawned by the engine, TCP between them) against the
 * unsplit engine, on the bundled fortune-llama (6 layers: 2 and 3 stages) and on every fixture that
 * `fixtureDirs()` finds: greedy outputs of concurrent sequences identical and top-5 logprobs within 1e-4,
 * with 1, 2 and 4 micro-batches; one logical KV cache (prefix-cache hits work across steps); a stage process
 * killed mid-stream fails the requests with a clear error instead of hanging them.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { loadModelConfig } from '../../model/index.ts';
import { DEFAULT_SAMPLING, type EngineOutput, type EngineRequest } from '../../protocols/engine.ts';
import { asRequestId } from '../../protocols/ids.ts';
import { freePort } from '../../infra/free-port.ts';
import { defaultModelDir, fixtureDirs } from '../../util/paths.ts';
import { type EngineOptions, LlmEngine } from '../llm-engine.ts';
import { PipelineStageError } from './pipeline-executor.ts';

let counter = 0;
function request(prompt: number[], maxTokens: number, logprobs?: number): EngineRequest {
  return {
    requestId: asRequestId(`pp${counter++}`),
    promptTokenIds: prompt,
    sampling: { ...DEFAULT_SAMPLING, temperature: 0 },
    stopping: { maxTokens, stopTokenIds: [], ignoreEos: true },
    ...(logprobs === undefined ? {} : { logprobs }),
  };
}

async function outputs(engine: LlmEngine, req: EngineRequest): Promise<EngineOutput[]> {
  const out: EngineOutput[] = [];
  for await (const o of engine.generate(req)) out.push(o);
  return out;
}

async function tokens(engine: LlmEngine, req: EngineRequest): Promise<number[]> {
  return (await outputs(engine, req)).map((o) => o.tokenId);
}

/** Top-5 log-probabilities of every generated token: the logits' shape, seen through log-softmax. */
async function logprobsOf(engine: LlmEngine, ps: number[][]): Promise<number[][]> {
  const all = await Promise.all(ps.map((p) => outputs(engine, request(p, 6, 5))));
  return all.map((outs) => outs.flatMap((o) => (o.topLogprobs ?? []).map((t) => t.logprob)));
}

function maxAbsDiff(a: number[][], b: number[][]): number {
  assert.deepEqual(
    a.map((r) => r.length),
    b.map((r) => r.length),
  );
  return Math.max(...a.flatMap((row, i) => row.map((x, j) => Math.abs(x - b[i]![j]!))));
}

/** Six prompts of different lengths, generated concurrently (continuous batching, decodes + prefills mixed). */
function prompts(vocab: number): number[][] {
  return [11, 3, 17, 1, 8, 25].map((n, s) =>
    Array.from({ length: n }, (_, i) => (s * 97 + i * 13 + 5) % vocab),
  );
}

async function generateAll(engine: LlmEngine, ps: number[][], maxTokens: number): Promise<number[][]> {
  return Promise.all(ps.map((p) => tokens(engine, request(p, maxTokens))));
}

const engines: LlmEngine[] = [];
async function engine(modelDir: string, opts: Partial<EngineOptions> = {}): Promise<LlmEngine> {
  const e = await LlmEngine.create({
    modelDir,
    numKvBlocks: 128,
    blockSize: 4,
    threads: 1,
    maxNumBatchedTokens: 24,
    ...opts,
  });
  engines.push(e);
  return e;
}
after(async () => {
  for (const e of engines) await e.close();
});

const modelDirs = [
  { label: 'fortune-llama', dir: defaultModelDir },
  ...fixtureDirs((dir) => existsSync(join(dir, 'config.json')) && existsSync(join(dir, 'model.safetensors'))),
];

for (const { label, dir } of modelDirs) {
  const numLayers = loadModelConfig(dir).numLayers;
  const vocab = loadModelConfig(dir).vocabSize;
  describe(`${label}: pipeline stages as processes give the unsplit engine's greedy outputs`, () => {
    let expected: number[][];
    let expectedLogprobs: number[][];
    it('PP=1 reference', async () => {
      const e = await engine(dir);
      expected = await generateAll(e, prompts(vocab), 12);
      expectedLogprobs = await logprobsOf(e, prompts(vocab));
      for (const row of expectedLogprobs) assert.equal(row.length, 6 * 5, '6 tokens × top 5');
    });
    for (const [p, m] of [
      [2, 1],
      [2, 2],
      [2, 4],
      [3, 3],
    ] as const) {
      if (p > numLayers) continue;
      it(`PP=${p}, ${m} micro-batch(es): 6 concurrent sequences identical`, async () => {
        const e = await engine(dir, { pipelineParallelSize: p, pipelineMicroBatches: m });
        assert.equal(e.pipeline?.stages.length, p);
        assert.deepEqual(await generateAll(e, prompts(vocab), 12), expected);
        // A second round reuses cached prefixes: the stages' caches must hold the same blocks as the scheduler thinks.
        assert.deepEqual(await generateAll(e, prompts(vocab), 12), expected);
        const diff = maxAbsDiff(await logprobsOf(e, prompts(vocab)), expectedLogprobs);
        assert.ok(diff <= 1e-4, `top-5 logprobs differ from PP=1 by ${diff}`);
        const stages = e.pipeline!.stages;
        assert.equal(
          stages.reduce((n, s) => n + s.layers[1] - s.layers[0], 0),
          numLayers,
        );
        for (const s of stages)
          assert.ok(s.weightBytes > 0 && s.kvBytes > 0, `stage ${s.stage} reports its memory`);
        await e.close();
      });
    }
  });
}

describe('a pipeline stage process dies', () => {
  it('fails the requests in flight and later ones with a PipelineStageError, never hangs', async () => {
    const e = await engine(defaultModelDir, { pipelineParallelSize: 3, maxNumBatchedTokens: 4 });
    const long = Array.from({ length: 40 }, (_, i) => (i * 7 + 3) % 2048);
    const other = tokens(e, request(long.slice(5), 400));
    const stream = e.generate(request(long, 400));
    await stream.next(); // the pipeline is streaming: now kill the last stage
    process.kill(e.pipeline!.stages[2]!.pid, 'SIGKILL');
    const drain = async () => {
      for await (const _ of stream);
    };
    await assert.rejects(Promise.all([drain(), other]), (err: Error) => {
      assert.ok(err instanceof PipelineStageError, String(err));
      assert.match(err.message, /pipeline broken: .*stage/);
      return true;
    });
    await assert.rejects(tokens(e, request([1, 2, 3], 4)), PipelineStageError);
  });
});

describe('stage addresses given by hand', () => {
  it('a stage that is not listening is a clear error at start, naming its address', async () => {
    const port = await freePort();
    await assert.rejects(
      LlmEngine.create({
        modelDir: defaultModelDir,
        threads: 1,
        pipelineParallelSize: 2,
        pipelineStageAddresses: [`127.0.0.1:${port}`],
      }),
      (err: Error) => err instanceof PipelineStageError && err.message.includes(`127.0.0.1:${port}`),
    );
  });

  it('the address count must match the stage count, and each must be HOST:PORT', async () => {
    const create = (addresses: string[]) =>
      LlmEngine.create({
        modelDir: defaultModelDir,
        threads: 1,
        pipelineParallelSize: 3,
        pipelineStageAddresses: addresses,
      });
    await assert.rejects(
      create(['127.0.0.1:7100']),
      /names 1 stage\(s\); --pipeline-parallel-size 3 needs 2/,
    );
    await assert.rejects(create(['127.0.0.1:7100', 'nohost']), /"nohost" is not HOST:PORT/);
  });
});
