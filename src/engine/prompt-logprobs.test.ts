/**
 * Prompt logprobs (`promptLogprobs`, what OpenAI's echo + logprobs and vLLM's prompt_logprobs ask for)
 * against Hugging Face's own logits: every fixture checkpoint's golden.json has the logits of every
 * position of a forward pass over its input, so the log-probability of input token t given tokens < t is
 * log_softmax(logits[t − 1])[input[t]]. The engine must give the same numbers and the same top
 * alternatives, when the prompt is cut into chunked-prefill pieces, and when its blocks are already in the
 * prefix cache (a scored prompt is computed whole). The mocker's refusal: src/mocker/prompt-logprobs.test.ts.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import {
  DEFAULT_SAMPLING,
  type EngineOutput,
  type EngineRequest,
  type PromptTokenLogprob,
} from '../protocols/engine.ts';
import { asRequestId } from '../protocols/ids.ts';
import { fixtureDirs } from '../util/paths.ts';
import { LlmEngine } from './llm-engine.ts';

interface GoldenCase {
  input_ids: number[];
  logits_file: string;
  logits_shape: [number, number];
}

const TOP = 3;
const MAX_ABS = 1e-3;

const modelDirs = fixtureDirs(
  (dir) => existsSync(join(dir, 'golden.json')) && existsSync(join(dir, 'config.json')),
);

function readF32(file: string): Float32Array {
  const bytes = readFileSync(file);
  return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
}

/** HF's answer for prompt position t ≥ 1: log p(input[t] | input[<t]) and the top ids, from row t − 1. */
function expectedScores(dir: string, c: GoldenCase): { logprob: number; top: number[]; rank: number }[] {
  const logits = readF32(join(dir, c.logits_file));
  const vocab = c.logits_shape[1];
  const out: { logprob: number; top: number[]; rank: number }[] = [];
  for (let t = 1; t < c.input_ids.length; t++) {
    const row = logits.subarray((t - 1) * vocab, t * vocab);
    let max = -Infinity;
    for (const x of row) max = Math.max(max, x);
    let sum = 0;
    for (const x of row) sum += Math.exp(x - max);
    const lse = max + Math.log(sum);
    const order = [...row.keys()].sort((a, b) => row[b]! - row[a]!);
    out.push({
      logprob: row[c.input_ids[t]!]! - lse,
      top: order.slice(0, TOP),
      rank: order.indexOf(c.input_ids[t]!) + 1,
    });
  }
  return out;
}

let counter = 0;
function scoringRequest(prompt: number[], over: Partial<EngineRequest> = {}): EngineRequest {
  return {
    requestId: asRequestId(`pl${counter++}`),
    promptTokenIds: prompt,
    sampling: { ...DEFAULT_SAMPLING, temperature: 0 },
    stopping: { maxTokens: 2, stopTokenIds: [], ignoreEos: true },
    promptLogprobs: TOP,
    ...over,
  };
}

async function collect(
  engine: { generate(r: EngineRequest): AsyncIterable<EngineOutput> },
  r: EngineRequest,
) {
  const outs: EngineOutput[] = [];
  for await (const out of engine.generate(r)) outs.push(out);
  return outs;
}

function assertMatches(
  outs: EngineOutput[],
  expected: { logprob: number; top: number[]; rank: number }[],
  prompt: number[],
) {
  const scores: EngineOutput['promptLogprobs'] = outs[0]?.promptLogprobs;
  assert.ok(scores, 'the first output carries the prompt scores');
  assert.equal(scores.length, prompt.length);
  assert.equal(scores[0], null, 'nothing comes before the first prompt token');
  for (let t = 1; t < prompt.length; t++) {
    const got: PromptTokenLogprob = scores[t]!;
    const want = expected[t - 1]!;
    assert.equal(got.tokenId, prompt[t]);
    assert.ok(
      Math.abs(got.logprob - want.logprob) <= MAX_ABS,
      `position ${t}: ${got.logprob} vs HF ${want.logprob}`,
    );
    assert.equal(got.rank, want.rank, `position ${t}: rank`);
    assert.deepEqual(
      got.topLogprobs.map((e) => e.tokenId),
      want.top,
      `position ${t}: top ${TOP}`,
    );
  }
  assert.ok(
    outs.slice(1).every((o) => o.promptLogprobs === undefined),
    'sent once',
  );
}

const engines: LlmEngine[] = [];
after(async () => {
  for (const e of engines) await e.close();
});

for (const { label, dir } of modelDirs) {
  describe(`prompt logprobs vs Hugging Face (${label})`, () => {
    const golden = JSON.parse(readFileSync(join(dir, 'golden.json'), 'utf8')) as { cases: GoldenCase[] };
    const longest = [...golden.cases].sort((a, b) => b.input_ids.length - a.input_ids.length)[0]!;

    it('every case, its prompt cut into 8-token chunked-prefill pieces', async () => {
      const engine = await LlmEngine.create({ modelDir: dir, numKvBlocks: 64, maxNumBatchedTokens: 8 });
      engines.push(engine);
      for (const c of golden.cases.filter((c) => c.input_ids.length > 1)) {
        assertMatches(
          await collect(engine, scoringRequest(c.input_ids)),
          expectedScores(dir, c),
          c.input_ids,
        );
      }
    });

    it('a prompt already in the prefix cache is scored whole, with the same numbers', async () => {
      const engine = await LlmEngine.create({ modelDir: dir, numKvBlocks: 64, blockSize: 4 });
      engines.push(engine);
      const prompt = longest.input_ids;
      const plain = await collect(engine, scoringRequest(prompt, { promptLogprobs: undefined }));
      assert.equal(plain[0]!.promptLogprobs, undefined, 'not asked, not sent');
      const again = await collect(engine, scoringRequest(prompt, { promptLogprobs: undefined }));
      assert.ok(again[0]!.numCachedTokens > 0, 'the prompt is cached');
      const scored = await collect(engine, scoringRequest(prompt));
      assert.equal(scored[0]!.numCachedTokens, 0, 'no prefix-cache hit for a scored prompt');
      assertMatches(scored, expectedScores(dir, longest), prompt);
      assert.deepEqual(
        scored.map((o) => o.tokenId),
        plain.map((o) => o.tokenId),
        'scoring the prompt does not change what is generated',
      );
    });
  });
}
