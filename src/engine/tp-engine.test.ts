/**
 * A tensor-parallel engine behaves like the one-rank engine: 16 concurrent greedy requests of mixed lengths
 * (chunked prefill, prefix hits, batched decode) give the same tokens with TP = 2 over threads and over
 * rank processes (`dhw tp-rank` children, ring all-reduce on loopback TCP). A rank process killed mid-service
 * fails the in-flight and later requests with a clear error instead of hanging; an illegal size and a
 * disaggregation connector are refused up front.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DEFAULT_SAMPLING, type EngineRequest } from '../protocols/engine.ts';
import { asRequestId } from '../protocols/ids.ts';
import { defaultModelDir } from '../util/paths.ts';
import type { EngineCore } from './engine-core.ts';
import { LlmEngine } from './llm-engine.ts';
import { TpLlmEngine } from './tp-engine.ts';

const golden = JSON.parse(readFileSync(join(defaultModelDir, 'golden.json'), 'utf8')) as {
  samples: { prompt_ids: number[] }[];
};
const prompts = [
  ...golden.samples.map((s) => s.prompt_ids),
  ...golden.samples.map((s) => s.prompt_ids.slice(0, Math.max(2, s.prompt_ids.length - 5))),
  [...golden.samples[0]!.prompt_ids, ...golden.samples[1]!.prompt_ids],
];

let counter = 0;
function request(prompt: number[], maxTokens = 24): EngineRequest {
  return {
    requestId: asRequestId(`tp${counter++}`),
    promptTokenIds: prompt,
    sampling: { ...DEFAULT_SAMPLING, temperature: 0 },
    stopping: { maxTokens, stopTokenIds: [2], ignoreEos: false },
  };
}

async function tokens(engine: EngineCore, req: EngineRequest): Promise<number[]> {
  const out: number[] = [];
  for await (const o of engine.generate(req)) out.push(o.tokenId);
  return out;
}

const common = {
  modelDir: defaultModelDir,
  threads: 1,
  numKvBlocks: 96,
  blockSize: 8,
  maxNumBatchedTokens: 64,
};

describe('TpLlmEngine', () => {
  let expected: number[][];
  before(async () => {
    const one = await LlmEngine.create(common);
    expected = await Promise.all(prompts.map((p) => tokens(one, request(p))));
    await one.close();
  });

  for (const transport of ['threads', 'tcp'] as const) {
    it(`TP=2 over ${transport}: concurrent greedy outputs identical to TP=1`, async () => {
      const engine = await TpLlmEngine.create({ ...common, tensorParallelSize: 2, tpTransport: transport });
      try {
        const got = await Promise.all(prompts.map((p) => tokens(engine, request(p))));
        assert.deepEqual(got, expected);
        const stats = engine.commStats();
        assert.ok(stats.calls > 0 && stats.payloadBytes > 0, 'all-reduces counted');
      } finally {
        await engine.close();
      }
    });
  }

  it('a rank process that dies fails requests with a clear error, no hang', async () => {
    const engine = await TpLlmEngine.create({
      ...common,
      tensorParallelSize: 2,
      tpTransport: 'tcp',
      tpTimeoutMs: 5000,
    });
    after(() => engine.close());
    assert.deepEqual(await tokens(engine, request(prompts[0]!)), expected[0]);
    const [pid] = engine.localRanks!.pids;
    process.kill(pid!, 'SIGKILL');
    await new Promise((r) => setTimeout(r, 300)); // let the link's close arrive
    await assert.rejects(tokens(engine, request(prompts[1]!)), /tensor-parallel|link to rank 1/);
    await assert.rejects(tokens(engine, request(prompts[2]!)), /tensor-parallel group is down/);
  });

  it('refuses an illegal size (naming the legal ones) and a KV connector', async () => {
    await assert.rejects(
      TpLlmEngine.create({ ...common, tensorParallelSize: 3 }),
      /--tensor-parallel-size 3 does not fit this model.*Legal sizes: 1, 2, 4, 8/,
    );
    await assert.rejects(
      TpLlmEngine.create({
        ...common,
        tensorParallelSize: 2,
        kvConnector: { loadBlocks: async () => ({ ok: true, bytes: 0 }) } as never,
      }),
      /disaggregated serving with --tensor-parallel-size > 1 is not supported/,
    );
  });
});
