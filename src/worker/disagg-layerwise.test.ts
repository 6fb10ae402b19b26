/**
 * The layer-wise hand-off between real workers (real etcd for agent metadata, real NATS, the transfer
 * agents' own data connections): both hops sent at once, as the frontend's `--kv-transfer-mode layerwise`
 * sends them; the decode worker allocates and sends its destination, the prefill worker WRITEs each layer
 * into it as its forward pass computes it.
 *   - fortune-llama over tcp and over unix: greedy output equal to an aggregated worker's, around block
 *     boundaries and with a prefix hit on the decode side (only the missing blocks are pushed);
 *     cached_tokens = P − 1; per-layer WRITE counts; no block left active or held on either side;
 *   - a random SmolLM2-shaped checkpoint (GQA: 3 KV heads of 64): the same equality;
 *   - faults: a prefill worker that never pushes (the decode worker times out) and a vanished one (its
 *     agent is gone): the request completes with a local prefill, same tokens, no leaked blocks; a prefill
 *     whose destination never comes frees its held blocks.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { LlmEngine } from '../engine/index.ts';
import { startAll } from '../infra/testing/lifecycle-kit.ts';
import { RANDOM_SHAPES, writeRandomCheckpoint } from '../model/checkpoint/random-checkpoint.ts';
import type { EngineOutput, EngineRequest } from '../protocols/engine.ts';
import { TcpRequestPlane } from '../runtime/request-plane/index.ts';
import { Tokenizer } from '../tokens/index.ts';
import { defaultModelDir } from '../util/paths.ts';
import { Mulberry32 } from '../util/prng.ts';
import {
  eventually,
  freshNamespace,
  greedyRequest,
  startInfra,
  type TestInfra,
} from './testing/worker-kit.ts';
import { Worker } from './worker.ts';
import type { WorkerKvTransferOptions, WorkerOptions } from './worker-options.ts';

let infra: TestInfra;
const plane = new TcpRequestPlane();
const tmp = mkdtempSync(join(tmpdir(), 'disagg-layerwise-'));

before(async () => {
  infra = await startInfra();
});
after(async () => {
  await plane.close();
  await infra?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

function options(
  namespace: string,
  modelDir: string,
  extra: Partial<WorkerOptions> & { kvTransfer?: WorkerKvTransferOptions },
): WorkerOptions {
  return {
    engine: { kind: 'scratch', options: { modelDir } },
    namespace,
    discovery: { backend: 'etcd', etcdEndpoints: infra.etcd.endpoint, ttlSeconds: 15 }, // loads block the loop
    events: { backend: 'nats', natsServer: infra.nats.url },
    canaryIntervalMs: 0,
    drainMs: 1000,
    systemPort: null,
    ...extra,
  };
}

async function generate(worker: Worker, request: EngineRequest): Promise<EngineOutput[]> {
  const out: EngineOutput[] = [];
  for await (const item of plane.call(worker.address, 'generate', request)) out.push(item as EngineOutput);
  return out;
}

/** Both hops at once, as the frontend sends them in layer-wise mode; returns the decode worker's outputs. */
async function layerwise(prefill: Worker, decode: Worker, request: EngineRequest): Promise<EngineOutput[]> {
  const [outputs, prefillOutputs] = await Promise.all([
    generate(decode, { ...request, kvTransfer: { awaitKvPush: { remoteAgent: prefill.instanceId } } }),
    generate(prefill, {
      ...request,
      stopping: { ...request.stopping, maxTokens: 1 },
      kvTransfer: { doRemoteDecode: true, pushTo: { agent: decode.instanceId } },
    }),
  ]);
  assert.equal(prefillOutputs.length, 1, 'the prefill worker samples one token');
  return outputs;
}

async function metric(worker: Worker, name: string, labelMatch = ''): Promise<number> {
  const text = (await worker.metrics.render()).body;
  for (const line of text.split('\n')) {
    if (line.startsWith(`${name}{`) && line.includes(labelMatch))
      return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return Number.NaN;
}

const tokens = (outputs: EngineOutput[]) => outputs.map((o) => o.tokenId);

/** Every block back in the pool and nothing held, on every worker. */
async function assertNoBlocksTaken(workers: Worker[]): Promise<void> {
  for (const worker of workers) {
    await eventually(
      () => worker.engine.kv.stats().activeBlocks === 0 && worker.engine.heldBlocks() === 0,
      `no active or held blocks on ${worker.role} worker`,
    );
  }
}

for (const mode of ['tcp', 'unix'] as const) {
  describe(`fortune-llama, layer-wise push over ${mode}`, () => {
    const namespace = freshNamespace();
    let prefill: Worker;
    let decode: Worker;
    let aggregated: Worker;
    let story: number[];

    before(async () => {
      const kvTransfer = { mode };
      [prefill, decode, aggregated] = await startAll([
        Worker.start(options(namespace, defaultModelDir, { role: 'prefill', kvTransfer })),
        Worker.start(options(namespace, defaultModelDir, { role: 'decode', kvTransfer, systemPort: 0 })),
        Worker.start(options(namespace, defaultModelDir, {})),
      ]);
      const tokenizer = await Tokenizer.fromDir(defaultModelDir);
      story = tokenizer.encode(
        'Once upon a time, in a kingdom by the sea, there lived a fortune teller who knew every tale of the ' +
          'land, and every traveller who came to her door asked what the morning would bring. She answered ' +
          'each of them with a riddle, and the riddles were remembered long after the travellers were gone.',
      );
      assert.ok(story.length > 70, 'enough tokens for several prompts');
    });
    after(async () => {
      await Promise.all([prefill?.stop(), decode?.stop(), aggregated?.stop()]);
    });

    test('greedy output equals aggregated around block boundaries; every layer pushed once', async () => {
      const numLayers = 6;
      const lengths = [2, 15, 16, 17, 33];
      for (const [i, n] of lengths.entries()) {
        const prompt = story.slice(i, i + n); // each its own start: no prefix shared with the previous one
        const expected = await generate(aggregated, greedyRequest(prompt, 8, 'agg'));
        const outputs = await layerwise(prefill, decode, greedyRequest(prompt, 8, 'lw'));
        assert.deepEqual(tokens(outputs), tokens(expected), `prompt of ${n} tokens`);
        assert.equal(
          outputs[0]?.numCachedTokens,
          n - 1,
          `prompt of ${n}: decode computed only the last token`,
        );
      }
      await assertNoBlocksTaken([prefill, decode]);
      // A 2-token prompt needs one block: every prompt here received a push of every layer.
      assert.equal(await metric(decode, 'dynamo_component_kv_transfer_pulls_total', 'transport="push"'), 5);
      assert.equal(await metric(decode, 'dynamo_component_kv_transfer_fallbacks_total'), Number.NaN);
      assert.equal(
        await metric(prefill, 'dynamo_component_kv_transfer_layer_pushes_total', 'outcome="ok"'),
        lengths.length * numLayers,
      );
    });

    test('a prefix hit on the decode side: only the blocks it lacks are pushed, output unchanged', async () => {
      const first = story.slice(5, 5 + 40);
      await layerwise(prefill, decode, greedyRequest(first, 2, 'warm'));
      const bytesBefore = await metric(decode, 'dynamo_component_kv_transfer_bytes_total', 'direction="in"');
      const longer = story.slice(5, 5 + 60); // the first 2 full blocks are cached on the decode worker now
      const expected = await generate(aggregated, greedyRequest(longer, 8, 'agg'));
      const outputs = await layerwise(prefill, decode, greedyRequest(longer, 8, 'hit'));
      assert.deepEqual(tokens(outputs), tokens(expected));
      assert.equal(outputs[0]?.numCachedTokens, longer.length - 1);
      const received =
        (await metric(decode, 'dynamo_component_kv_transfer_bytes_total', 'direction="in"')) - bytesBefore;
      const kv = (decode.engine as LlmEngine).kvTensors; // layers × K/V × [block][KV heads][head dim] f32
      const blockBytes = kv.numLayers * 2 * kv.blockSize * kv.numKvHeads * kv.headDim * 4;
      assert.equal(received, (Math.ceil((longer.length - 1) / 16) - 2) * blockBytes, 'blocks 2.. only');
      await assertNoBlocksTaken([prefill, decode]);
    });
  });
}

describe('random SmolLM2-shaped checkpoint (GQA), layer-wise push', () => {
  const namespace = freshNamespace();
  const VOCAB = 2048;
  let prefill: Worker;
  let decode: Worker;
  let aggregated: Worker;

  before(async () => {
    const dir = join(tmp, 'smollm2-gqa');
    writeRandomCheckpoint(dir, {
      shape: {
        ...RANDOM_SHAPES['smollm2-135m'],
        num_hidden_layers: 4,
        vocab_size: VOCAB,
        initializer_range: 0.05,
      },
      seed: 11,
    });
    [prefill, decode, aggregated] = await startAll([
      Worker.start(options(namespace, dir, { role: 'prefill', kvTransfer: { mode: 'tcp' } })),
      Worker.start(options(namespace, dir, { role: 'decode', kvTransfer: { mode: 'tcp' } })),
      Worker.start(options(namespace, dir, {})),
    ]);
  });
  after(async () => {
    await Promise.all([prefill?.stop(), decode?.stop(), aggregated?.stop()]);
  });

  test('greedy output equals aggregated around block boundaries', async () => {
    const rng = new Mulberry32(5);
    for (const n of [16, 17, 31, 48]) {
      const prompt = Array.from({ length: n }, () => 3 + Math.floor(rng.nextFloat() * (VOCAB - 3)));
      const expected = await generate(aggregated, greedyRequest(prompt, 8, 'agg'));
      const outputs = await layerwise(prefill, decode, greedyRequest(prompt, 8, 'lw'));
      assert.deepEqual(tokens(outputs), tokens(expected), `prompt of ${n}`);
      assert.ok(new Set(tokens(expected)).size > 2, 'a varied continuation, not one repeated token');
      assert.equal(outputs[0]?.numCachedTokens, n - 1);
    }
    await assertNoBlocksTaken([prefill, decode]);
  });
});

describe('layer-wise faults: the decode worker prefills locally', () => {
  const namespace = freshNamespace();
  let prefill: Worker;
  let decode: Worker;
  let aggregated: Worker;
  let prompt: number[];

  before(async () => {
    const kvTransfer = { mode: 'tcp' as const, pullTimeoutMs: 300 };
    [prefill, decode, aggregated] = await startAll([
      Worker.start(options(namespace, defaultModelDir, { role: 'prefill', kvTransfer })),
      Worker.start(options(namespace, defaultModelDir, { role: 'decode', kvTransfer, systemPort: 0 })),
      Worker.start(options(namespace, defaultModelDir, {})),
    ]);
    const tokenizer = await Tokenizer.fromDir(defaultModelDir);
    prompt = tokenizer.encode(
      'A fortune teller by the sea answered every traveller with a riddle of her own.',
    );
  });
  after(async () => {
    await Promise.all([prefill?.stop(), decode?.stop(), aggregated?.stop()]);
  });

  test('a prefill worker that never pushes: the wait times out, local prefill, same tokens', async () => {
    const expected = await generate(aggregated, greedyRequest(prompt, 8, 'agg'));
    // Only the decode hop: the prefill worker gets the destination but no prefill request to push from.
    const outputs = await generate(decode, {
      ...greedyRequest(prompt, 8, 'nopush'),
      kvTransfer: { awaitKvPush: { remoteAgent: prefill.instanceId } },
    });
    assert.deepEqual(tokens(outputs), tokens(expected));
    assert.equal(await metric(decode, 'dynamo_component_kv_transfer_fallbacks_total', 'reason="timeout"'), 1);
    await assertNoBlocksTaken([prefill, decode]);
  });

  test('a destination that never comes: the prefill worker answers, then frees its held blocks', async () => {
    // Only the prefill hop (a decode hop that never reached its worker): nothing to push to.
    const outputs = await generate(prefill, {
      ...greedyRequest(prompt, 1, 'nodest'),
      kvTransfer: { doRemoteDecode: true, pushTo: { agent: decode.instanceId } },
    });
    assert.equal(outputs.length, 1);
    assert.ok(outputs[0]?.kvTransferParams, 'the prefill answers as usual');
    await assertNoBlocksTaken([prefill, decode]); // held until --kv-pull-timeout (300 ms here), then freed
  });

  test('a prefill worker that is gone: its agent is unknown, local prefill, same tokens', async () => {
    const expected = await generate(aggregated, greedyRequest(prompt, 8, 'agg'));
    const outputs = await generate(decode, {
      ...greedyRequest(prompt, 8, 'gone'),
      kvTransfer: { awaitKvPush: { remoteAgent: 'no-such-worker' } },
    });
    assert.deepEqual(tokens(outputs), tokens(expected));
    assert.equal(
      await metric(decode, 'dynamo_component_kv_transfer_fallbacks_total', 'reason="peer_gone"'),
      1,
    );
    await assertNoBlocksTaken([decode]);
  });
});
