/**
 * `--engine llamacpp` in-process, on a `dhw model convert` GGUF export of fortune-llama: llama.cpp behind
 * our engine loop picks the same greedy tokens as llama.cpp driven directly and as our own engine; a batch
 * of concurrent requests (continuous batching over the context's sequences, one shared prefix) gives each
 * request the tokens it gets alone, also when a small KV pool forces preemption; a q8_0 export runs;
 * cancelling frees its blocks; KV events describe what it computed.
 *
 * node-llama-cpp is an optional package: without it these tests skip, printing the install command.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { convertToGguf, greedyGenerate, LlamaModel } from '../../model/index.ts';
import { asWorkerId } from '../../protocols/ids.ts';
import type { KvCacheEvent } from '../../protocols/kv-events.ts';
import { defaultModelDir } from '../../util/paths.ts';
import { greedyRequest } from '../testing/worker-kit.ts';
import { LlamaCppEngine } from './llama-cpp-engine.ts';
import {
  LLAMA_CPP_INSTALL_HINT,
  type LlamaToken,
  llamaCppInstalled,
  loadLlamaCpp,
} from './llama-cpp-module.ts';

const SKIP = llamaCppInstalled() ? false : `node-llama-cpp is not installed: ${LLAMA_CPP_INSTALL_HINT}`;

/** fortune-llama prompts as token ids; the last two share their first 20 tokens (prefix reuse). */
const SHARED = Array.from({ length: 20 }, (_, i) => 100 + ((i * 37) % 1500));
const PROMPTS = [
  [1, 50, 300, 700, 12, 5, 900, 33],
  [1, 1200, 44, 987, 16, 620, 3, 88, 1500, 7, 254, 19],
  [...SHARED, 5, 6, 7],
  [...SHARED, 900, 901],
];
const NEW_TOKENS = 12;

const tmp = mkdtempSync(join(tmpdir(), 'dhw-llamacpp-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

async function collect(
  engine: LlamaCppEngine,
  prompt: number[],
  n: number,
  signal?: AbortSignal,
): Promise<number[]> {
  const out: number[] = [];
  for await (const o of engine.generate(greedyRequest(prompt, n), signal)) out.push(o.tokenId);
  return out;
}

/** llama.cpp alone (node-llama-cpp's own generation loop), greedy. */
async function llamaCppDirect(file: string, prompt: number[], n: number): Promise<number[]> {
  const llama = await loadLlamaCpp({ gpu: false });
  const model = await llama.loadModel({ modelPath: file });
  const context = await model.createContext({ contextSize: 1024, sequences: 1, threads: 2 });
  const seq = context.getSequence();
  const out: number[] = [];
  let next: LlamaToken[] = prompt as LlamaToken[];
  while (out.length < n) {
    const items = next.map((t, i) =>
      i === next.length - 1
        ? ([t, { generateNext: { token: true, options: { temperature: 0 } } }] as const)
        : t,
    );
    const result = await seq.controlledEvaluate(items as never);
    const token = result[next.length - 1]?.next.token as LlamaToken;
    out.push(token);
    next = [token];
  }
  await context.dispose();
  await model.dispose();
  await llama.dispose();
  return out;
}

describe('llama.cpp engine on a dhw model convert export', { skip: SKIP }, () => {
  let file: string;
  let engine: LlamaCppEngine;
  const events: KvCacheEvent[] = [];
  before(async () => {
    file = (await convertToGguf(defaultModelDir, { out: join(tmp, 'fortune-f16.gguf'), dtype: 'f16' })).file;
    engine = await LlamaCppEngine.create(
      { ggufFile: file, gpu: false, threads: 2, maxNumSeqs: 4 },
      asWorkerId('w1'),
    );
    engine.kv.events.subscribe((e) => events.push(e));
  });
  after(async () => engine?.close());

  test('reads the model from the GGUF: name, context length, vocabulary, EOS', () => {
    assert.equal(engine.info.name, 'fortune-f16');
    assert.equal(engine.info.contextLength, 1024);
    assert.equal(engine.info.vocabSize, 2048);
    assert.deepEqual(engine.info.eosTokenIds, [2]);
  });

  test('greedy tokens equal llama.cpp directly and our engine', async () => {
    const ours = await LlamaModel.load(defaultModelDir);
    for (const prompt of PROMPTS.slice(0, 2)) {
      const got = await collect(engine, prompt, NEW_TOKENS);
      assert.deepEqual(
        got,
        await llamaCppDirect(file, prompt, NEW_TOKENS),
        `llama.cpp direct, prompt ${prompt}`,
      );
      assert.deepEqual(got, greedyGenerate(ours, prompt, NEW_TOKENS), `our engine, prompt ${prompt}`);
    }
  });

  test('concurrent requests batch over the context sequences and each gets its solo tokens', async () => {
    const alone: number[][] = [];
    for (const p of PROMPTS) alone.push(await collect(engine, p, NEW_TOKENS));
    const together = await Promise.all(PROMPTS.map((p) => collect(engine, p, NEW_TOKENS)));
    assert.deepEqual(together, alone);
    assert.ok(
      events.some((e) => e.data.type === 'stored'),
      'KV events: the blocks it computed were stored',
    );
  });

  test('a KV pool too small for the batch preempts, and every request still gets its solo tokens', async () => {
    const alone: number[][] = [];
    for (const p of PROMPTS) alone.push(await collect(engine, p, NEW_TOKENS));
    // 9 blocks of 16 for 4 requests needing 2-3 blocks each: the scheduler must preempt and recompute.
    const small = await LlamaCppEngine.create(
      { ggufFile: file, gpu: false, threads: 2, maxNumSeqs: 4, numKvBlocks: 9, blockSize: 16 },
      asWorkerId('w2'),
    );
    let preempted = 0;
    small.onStep((e) => {
      preempted += e.numPreempted;
    });
    try {
      assert.equal(small.info.contextLength, 36, 'each request is capped at cells / sequences');
      const together = await Promise.all(PROMPTS.map((p) => collect(small, p, NEW_TOKENS)));
      assert.deepEqual(together, alone);
      assert.ok(preempted > 0, 'the small pool preempted');
    } finally {
      await small.close();
    }
  });

  test('a q8_0 export runs too: the same tokens as llama.cpp directly on that file', async () => {
    const q8 = (await convertToGguf(defaultModelDir, { out: join(tmp, 'fortune-q8_0.gguf'), dtype: 'q8_0' }))
      .file;
    const quantized = await LlamaCppEngine.create({ ggufFile: q8, gpu: false, threads: 2 }, asWorkerId('w3'));
    try {
      const prompt = PROMPTS[1]!;
      assert.deepEqual(
        await collect(quantized, prompt, NEW_TOKENS),
        await llamaCppDirect(q8, prompt, NEW_TOKENS),
      );
    } finally {
      await quantized.close();
    }
  });

  test('a cancelled request frees its blocks and the engine serves on', async () => {
    const controller = new AbortController();
    let n = 0;
    for await (const _ of engine.generate(greedyRequest(PROMPTS[0]!, 500), controller.signal)) {
      if (++n === 3) controller.abort();
    }
    assert.equal(n, 3);
    assert.equal(engine.kvBlocksInUse(), 0);
    assert.equal((await collect(engine, PROMPTS[1]!, 4)).length, 4);
  });

  test('constrained decoding and logprobs are refused with a named field', async () => {
    const request = { ...greedyRequest(PROMPTS[0]!, 2), logprobs: 1 };
    await assert.rejects(async () => {
      for await (const _ of engine.generate(request));
    }, /logprobs/);
  });
});
