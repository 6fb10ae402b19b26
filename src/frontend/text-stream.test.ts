/**
 * streamText's two ways to turn tokens into text give the same text: per token (streaming, or stop strings
 * to watch) and once at the end (`wholeOutput` without stop strings or logprobs). Random token ids over the
 * bundled tokenizer's whole vocabulary (byte tokens that only form a character together included), replayed
 * by a scripted engine: the real engines live below the frontend's layer.
 */
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import type { EngineOutput, EngineRequest, InferenceEngine } from '../protocols/engine.ts';
import { asRequestId } from '../protocols/ids.ts';
import { Tokenizer } from '../tokens/index.ts';
import { defaultModelDir } from '../util/paths.ts';
import { streamText, type TextStreamEvent } from './text-stream.ts';

let tokenizer: Tokenizer;
before(async () => {
  tokenizer = await Tokenizer.fromDir(defaultModelDir);
});

/** Yields the given ids, the last with finish reason `length`, and counts what it was asked for. */
class ReplayEngine implements InferenceEngine {
  readonly info = { name: 'replay', contextLength: 4096, vocabSize: 0, eosTokenIds: [] };
  wholeOutputAsked = 0;
  constructor(private readonly ids: number[]) {}

  async *generate(
    request: EngineRequest,
    _signal?: AbortSignal,
    options?: { wholeOutput?: boolean },
  ): AsyncIterable<EngineOutput> {
    if (options?.wholeOutput) this.wholeOutputAsked++;
    for (let i = 0; i < this.ids.length; i++) {
      const last = i === this.ids.length - 1;
      yield {
        requestId: request.requestId,
        tokenId: this.ids[i]!,
        numCachedTokens: 0,
        ...(last ? { finishReason: 'length' as const } : {}),
      };
    }
  }

  async close(): Promise<void> {}
}

function request(promptTokenIds: number[], maxTokens: number): EngineRequest {
  return {
    requestId: asRequestId('text-stream-test'),
    promptTokenIds,
    sampling: { temperature: 0 },
    stopping: { maxTokens },
  } as EngineRequest;
}

async function run(ids: number[], prompt: number[], wholeOutput: boolean) {
  const engine = new ReplayEngine(ids);
  const events: TextStreamEvent[] = [];
  for await (const event of streamText({
    engine,
    tokenizer,
    request: request(prompt, ids.length),
    stop: [],
    skipSpecialTokens: true,
    signal: new AbortController().signal,
    wholeOutput,
  })) {
    events.push(event);
  }
  const text = events.map((e) => (e.kind === 'delta' ? e.text : '')).join('');
  return { text, deltas: events.filter((e) => e.kind === 'delta').length, events, engine };
}

/** A small deterministic PRNG (mulberry32), so a failure names a reproducible case. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

test('decoding once at the end gives the same text as decoding token by token (300 random outputs)', async () => {
  const next = random(13);
  const prompt = tokenizer.encode('Once upon a time');
  for (let c = 0; c < 300; c++) {
    const length = 1 + Math.floor(next() * 24);
    const ids = Array.from({ length }, () => Math.floor(next() * tokenizer.vocabSize));
    const streamed = await run(ids, prompt, false);
    const whole = await run(ids, prompt, true);
    assert.equal(whole.text, streamed.text, `case ${c}: ids ${JSON.stringify(ids)}`);
    const finish = whole.events.at(-1);
    assert.deepEqual(finish, {
      kind: 'finish',
      finishReason: 'length',
      completionTokens: length,
      cachedTokens: 0,
    });
    assert.deepEqual(whole.events.at(-1), streamed.events.at(-1));
  }
});

test('wholeOutput reaches the engine and yields one delta; streaming asks per token', async () => {
  const ids = tokenizer.encode(' the quick brown fox jumps over the lazy dog');
  const whole = await run(ids, [], true);
  assert.equal(whole.engine.wholeOutputAsked, 1, 'the engine is told the output is read whole');
  assert.equal(whole.deltas, 1, 'the text is decoded once, at the end');
  const streamed = await run(ids, [], false);
  assert.equal(streamed.engine.wholeOutputAsked, 0);
  assert.ok(streamed.deltas > 1, `streaming yields text as it comes (${streamed.deltas} deltas)`);
  assert.equal(whole.text, streamed.text);
});
