import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type StepEvent, VirtualClock } from '../engine/index.ts';
import { DEFAULT_SAMPLING, type EngineOutput, type EngineRequest } from '../protocols/engine.ts';
import { asRequestId } from '../protocols/ids.ts';
import type { KvCacheEvent } from '../protocols/kv-events.ts';
import { GuidedDecoder } from '../engine/index.ts';
import { MockEngine } from './mock-engine.ts';
import { allowedToken, biasedToken, pseudoToken } from './mock-executor.ts';
import { decodeMs, prefillMs, simulatedStepMs, sleepMsFor } from './timing-model.ts';

function request(id: string, prompt: number[], maxTokens: number): EngineRequest {
  return {
    requestId: asRequestId(id),
    promptTokenIds: prompt,
    sampling: DEFAULT_SAMPLING,
    stopping: { maxTokens, stopTokenIds: [2], ignoreEos: false },
  };
}

async function collect(
  engine: MockEngine,
  req: EngineRequest,
  signal?: AbortSignal,
): Promise<EngineOutput[]> {
  const outs: EngineOutput[] = [];
  for await (const out of engine.generate(req, signal)) outs.push(out);
  return outs;
}

const range = (n: number, from = 0) => Array.from({ length: n }, (_, i) => from + i);
const TOKENS = { vocabSize: 32_000, eosTokenIds: [2], eosProbability: 0 };

describe('timing model', () => {
  it('evaluates the Dynamo polynomials', () => {
    assert.equal(prefillMs(0), 16.5);
    assert.ok(Math.abs(prefillMs(1000) - (0.421 + 15.2 + 16.5)) < 1e-9);
    assert.equal(decodeMs(0), 5.74);
    assert.ok(Math.abs(decodeMs(1) - 34.01) < 1e-9);
    assert.equal(decodeMs(3), 1); // the floor
    const shape = { numPrefillTokens: 512, numDecodeSeqs: 4, kvUsage: 0.5 };
    assert.equal(simulatedStepMs(shape), prefillMs(512) + decodeMs(0.5));
    assert.equal(sleepMsFor(shape, 10), simulatedStepMs(shape) / 10);
    assert.equal(sleepMsFor(shape, 0), 0);
  });
});

describe('pseudo tokens', () => {
  it('are deterministic per request and position, in the vocabulary, never EOS by default', () => {
    const a = range(2000).map((p) => pseudoToken('req-1', p, TOKENS));
    assert.deepEqual(
      a,
      range(2000).map((p) => pseudoToken('req-1', p, TOKENS)),
    );
    assert.notDeepEqual(
      a.slice(0, 20),
      range(20).map((p) => pseudoToken('req-2', p, TOKENS)),
    );
    assert.ok(a.every((t) => t >= 0 && t < 32_000 && t !== 2));
    assert.ok(new Set(a).size > 1900);
    const small = { vocabSize: 4, eosTokenIds: [2], eosProbability: 0 };
    assert.ok(range(200).every((p) => pseudoToken('x', p, small) !== 2));
    assert.equal(pseudoToken('x', 5, { ...TOKENS, eosProbability: 1 }), 2);
  });
});

describe('MockEngine', () => {
  it('runs 32 workers in one process, flat out (speedupRatio 0)', async () => {
    const events: KvCacheEvent[][] = [];
    const workers = range(32).map((w) => {
      const log: KvCacheEvent[] = [];
      events.push(log);
      return new MockEngine({
        speedupRatio: 0,
        numKvBlocks: 64,
        workerId: `w${w}`,
        events: (e) => log.push(e),
      });
    });
    const shared = range(48, 100); // a common system prompt, 3 blocks
    const runs = workers.flatMap((engine, w) =>
      range(4).map((r) => collect(engine, request(`w${w}-r${r}`, [...shared, ...range(5 + r, w * 10)], 24))),
    );
    const outs = await Promise.all(runs);
    outs.forEach((o, i) => {
      const id = `w${Math.floor(i / 4)}-r${i % 4}`;
      const promptLen = 48 + 5 + (i % 4);
      assert.deepEqual(
        o.map((x) => x.tokenId),
        range(24).map((k) => pseudoToken(id, promptLen + k, TOKENS)),
      );
      assert.equal(o.at(-1)!.finishReason, 'length');
    });
    for (const [w, engine] of workers.entries()) {
      assert.equal(engine.kv.stats().activeBlocks, 0);
      assert.ok(events[w]!.some((e) => e.data.type === 'stored'));
      assert.equal(engine.loadMetrics().workerId, `w${w}`);
      await engine.close();
    }
  });

  it('charges simulated time on a virtual clock', async () => {
    const clock = new VirtualClock();
    const engine = new MockEngine({ speedupRatio: 1, clock, numKvBlocks: 100 });
    const steps: StepEvent[] = [];
    engine.onStep((e) => {
      steps.push(e);
    });
    const outs = await clock.runUntil(collect(engine, request('v', range(100, 10), 3)));
    assert.equal(outs.length, 3);
    // Step 1 prefills 100 tokens; steps 2 and 3 decode with 7 of 100 blocks in use.
    const expected = [prefillMs(100), decodeMs(0.07), decodeMs(0.07)];
    steps.forEach((s, i) => {
      assert.ok(Math.abs(s.stepMs - expected[i]!) < 1e-9, `step ${i}: ${s.stepMs}`);
    });
    assert.ok(Math.abs(clock.now() - expected.reduce((a, b) => a + b)) < 1e-9);
    await engine.close();
  });

  it("reports each request's queue time once, on its first output (vLLM's time_in_queue)", async () => {
    const clock = new VirtualClock();
    const engine = new MockEngine({ speedupRatio: 1, clock, numKvBlocks: 100, maxNumBatchedTokens: 64 });
    // Both arrive at t = 0. The long prompt takes the whole 64-token budget for 3 steps (192 of its 200
    // tokens); the short one waits for the 4th, which has room for it beside the last 8.
    const long = collect(engine, request('long', range(200, 10), 2));
    const short = collect(engine, request('short', range(20, 300), 2));
    const [l, s] = await clock.runUntil(Promise.all([long, short]));
    assert.equal(l![0]!.queueMs, 0);
    assert.ok(Math.abs(s![0]!.queueMs! - 3 * prefillMs(64)) < 1e-9, `short waited ${s![0]!.queueMs} ms`);
    assert.equal(l![1]!.queueMs, undefined, 'only the first output carries it');
    assert.equal(s![1]!.queueMs, undefined);
    await engine.close();
  });

  it('serves a repeated prompt from the prefix cache and charges only the new tokens', async () => {
    const engine = new MockEngine({ speedupRatio: 0 });
    const steps: StepEvent[] = [];
    engine.onStep((e) => {
      steps.push(e);
    });
    await collect(engine, request('a', range(100, 10), 2));
    const again = await collect(engine, request('b', range(100, 10), 2));
    assert.equal(again[0]!.numCachedTokens, 96);
    assert.equal(steps.at(-2)!.numPrefillTokens, 4);
  });

  it('abort during a simulated step frees blocks at once and emits nothing more', async () => {
    const clock = new VirtualClock();
    const engine = new MockEngine({ speedupRatio: 1, clock, numKvBlocks: 100 });
    const ac = new AbortController();
    const run = collect(engine, request('x', range(40), 50), ac.signal);
    while (clock.pending === 0) await new Promise<void>((r) => setImmediate(r)); // the prefill is "running"
    assert.ok(engine.kv.stats().activeBlocks > 0);
    ac.abort();
    assert.equal(engine.kv.stats().activeBlocks, 0);
    const outs = await clock.runUntil(run);
    assert.deepEqual(outs, []);
    await clock.runUntil(engine.close()); // the loop is still sleeping on the virtual clock
  });

  it('back-to-back requests restart the idle loop every time', async () => {
    const engine = new MockEngine({ speedupRatio: 0, numKvBlocks: 32 });
    for (let i = 0; i < 200; i++) {
      const outs = await collect(engine, request(`seq${i}`, range(3 + (i % 20), i), 1 + (i % 3)));
      assert.equal(outs.length, 1 + (i % 3));
    }
    await engine.close();
  });

  it('preempts under a tiny KV pool and still produces every token', async () => {
    const engine = new MockEngine({ speedupRatio: 0, numKvBlocks: 6, maxNumSeqs: 8 });
    let preempted = 0;
    engine.onStep((e) => {
      preempted += e.numPreempted;
    });
    const outs = await Promise.all(
      range(4).map((r) => collect(engine, request(`p${r}`, range(20, r * 100), 20))),
    );
    assert.ok(preempted > 0);
    outs.forEach((o, r) => {
      assert.deepEqual(
        o.map((x) => x.tokenId),
        range(20).map((k) => pseudoToken(`p${r}`, 20 + k, TOKENS)),
      );
    });
    assert.equal(engine.kv.stats().activeBlocks, 0);
  });
});

describe('mocker logit_bias', () => {
  const opts = { vocabSize: 100, eosTokenIds: [2] };
  it('+100 forces a token, -100 bans the pseudo-token, small biases change nothing', () => {
    assert.equal(biasedToken(40, [[7, 100]], opts), 7);
    assert.equal(biasedToken(40, [[40, -100]], opts), 41);
    assert.equal(
      biasedToken(
        1,
        [
          [1, -100],
          [3, -100],
        ],
        opts,
      ),
      4,
      'skips EOS (2) and the banned 3',
    );
    assert.equal(biasedToken(40, [[7, 0.5]], opts), 40);
    assert.equal(biasedToken(40, undefined, opts), 40);
  });
});

describe('mocker constrained decoding', () => {
  it('keeps an allowed pseudo-token, else takes the next allowed id (wrapping)', () => {
    const mask = new Int32Array(2); // 64 ids: allow 5 and 40
    mask[0] = 1 << 5;
    mask[1] = 1 << (40 - 32);
    assert.equal(allowedToken(5, mask, 64), 5);
    assert.equal(allowedToken(6, mask, 64), 40);
    assert.equal(allowedToken(41, mask, 64), 5);
    assert.equal(allowedToken(41, undefined, 64), 41);
  });
});

describe('mocker with a grammar (engine-core masks every sampled token)', () => {
  // A toy byte-level vocabulary; id 2 is EOS (special, no text).
  const TOKENS = ['{', '}', '<eos>', '"', 'a', ':', 'Ġ', '1', ','];
  const tokenizerJson = {
    model: { type: 'BPE', vocab: Object.fromEntries(TOKENS.map((t, i) => [t, i])) },
    added_tokens: [{ id: 2, content: '<eos>', special: true }],
    decoder: { type: 'ByteLevel' },
  };
  const schema = JSON.stringify({ type: 'object', properties: { a: { type: 'integer' } }, required: ['a'] });

  it('every output is a valid step of the grammar and ends at EOS once the JSON is complete', async () => {
    const engine = new MockEngine({ speedupRatio: 0, vocabSize: TOKENS.length, eosTokenIds: [2] });
    engine.setGuidedDecoder(new GuidedDecoder(async () => tokenizerJson, TOKENS.length));
    for (const id of ['g1', 'g2', 'g3']) {
      const outs = await collect(engine, { ...request(id, [4, 4, 4], 60), guidedDecoding: { schema } });
      const text = outs
        .map((o) => TOKENS[o.tokenId])
        .filter((t) => t !== '<eos>')
        .join('')
        .replaceAll('Ġ', ' ');
      assert.equal(outs.at(-1)?.finishReason, 'stop', text);
      assert.ok(Number.isInteger(JSON.parse(text).a), text);
    }
    await engine.close();
  });

  it('an engine without a decoder refuses a guided request, naming response_format', async () => {
    const engine = new MockEngine({ speedupRatio: 0 });
    await assert.rejects(
      collect(engine, { ...request('g', [4], 5), guidedDecoding: { schema } }),
      (err: Error & { param?: string }) => err.param === 'response_format',
    );
    await engine.close();
  });
});
