/**
 * Disaggregated prefill/decode between real workers: real etcd (agent metadata, AgentDirectory), real NATS
 * (KV events), TCP request plane and the transfer agents' own data connections.
 *   - scratch engines: prefill → params → decode pulls the prompt's KV; the decode output equals an
 *     aggregated worker's greedy output, metrics count the bytes, both pools end with no active or held
 *     blocks; the agent metadata key lives as long as the prefill worker, and a pull from a stopped prefill
 *     worker falls back to a local prefill with the same output;
 *   - mocker engines: the pull is simulated, the release notification is real; an unpulled hold expires.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { LlmEngine } from '../engine/index.ts';
import { startAll } from '../infra/testing/lifecycle-kit.ts';
import { isModelCard } from '../protocols/discovery.ts';
import type { EngineOutput, EngineRequest } from '../protocols/engine.ts';
import { asRequestId } from '../protocols/ids.ts';
import type { KvTransferParams } from '../protocols/kv-transfer.ts';
import { createDiscovery, type Discovery } from '../runtime/discovery/index.ts';
import { TcpRequestPlane } from '../runtime/request-plane/index.ts';
import { Tokenizer } from '../tokens/index.ts';
import { agentMetadataKey } from '../transfer/index.ts';
import { defaultModelDir } from '../util/paths.ts';
import {
  eventually,
  freshNamespace,
  greedyRequest,
  startInfra,
  type TestInfra,
} from './testing/worker-kit.ts';
import { Worker } from './worker.ts';
import type { WorkerOptions } from './worker-options.ts';

let infra: TestInfra;
let observer: Discovery;
const plane = new TcpRequestPlane();

before(async () => {
  infra = await startInfra();
  observer = await createDiscovery({ backend: 'etcd', etcdEndpoints: infra.etcd.endpoint });
});
after(async () => {
  await plane.close();
  await observer?.close();
  await infra?.stop();
});

function options(namespace: string, extra: Partial<WorkerOptions>): WorkerOptions {
  return {
    engine: { kind: 'scratch', options: { modelDir: defaultModelDir } },
    namespace,
    discovery: { backend: 'etcd', etcdEndpoints: infra.etcd.endpoint, ttlSeconds: 3 },
    events: { backend: 'nats', natsServer: infra.nats.url },
    canaryIntervalMs: 0,
    drainMs: 1000,
    ...extra,
  };
}

async function generate(worker: Worker, request: EngineRequest): Promise<EngineOutput[]> {
  const out: EngineOutput[] = [];
  for await (const item of plane.call(worker.address, 'generate', request)) out.push(item as EngineOutput);
  return out;
}

/** Step 3 of the flow: the prefill worker computes the prompt, samples one token, holds the blocks. */
async function prefill(worker: Worker, request: EngineRequest): Promise<KvTransferParams> {
  const outputs = await generate(worker, {
    ...request,
    requestId: asRequestId(`${request.requestId}-prefill`),
    stopping: { ...request.stopping, maxTokens: 1 },
    kvTransfer: { doRemoteDecode: true },
  });
  const params = outputs.at(-1)?.kvTransferParams;
  assert.ok(params, 'the last prefill output carries kvTransferParams');
  return params;
}

/** Step 4: the decode worker pulls the KV named by `params` and generates. */
function decode(worker: Worker, request: EngineRequest, params: KvTransferParams): Promise<EngineOutput[]> {
  return generate(worker, { ...request, kvTransfer: { doRemotePrefill: params } });
}

async function metricsText(worker: Worker): Promise<string> {
  return (await worker.metrics.render()).body;
}

/** The value of one series (labels matched as a substring), or undefined if absent. */
function metricValue(text: string, name: string, labelMatch = ''): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) || !line.includes(labelMatch)) continue;
    return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return undefined;
}

const tokens = (outputs: EngineOutput[]) => outputs.map((o) => o.tokenId);

describe('scratch prefill and decode workers pull real KV over the transfer agents', () => {
  const namespace = freshNamespace();
  let prefillWorker: Worker;
  let decodeWorker: Worker;
  let aggregated: Worker;
  let prompt: number[];

  before(async () => {
    [prefillWorker, decodeWorker, aggregated] = await startAll([
      Worker.start(options(namespace, { role: 'prefill', kvTransfer: { mode: 'tcp' } })),
      Worker.start(options(namespace, { role: 'decode', kvTransfer: { mode: 'tcp' } })),
      Worker.start(options(namespace, { systemPort: null })),
    ]);
    const tokenizer = await Tokenizer.fromDir(defaultModelDir);
    prompt = tokenizer.encode(
      'Once upon a time, in a kingdom by the sea, there lived a fortune teller who knew every tale of the ' +
        'land, and every traveller who came to her door asked what the morning would bring.',
    );
    assert.ok(prompt.length > 33 && prompt.length % 16 !== 0, 'more than two KV blocks, a partial last one');
  });
  after(async () => {
    await Promise.all([prefillWorker?.stop(), decodeWorker?.stop(), aggregated?.stop()]);
  });

  test('a prefill worker registers under component "prefill" with model type prefill; a decode worker as backend', async () => {
    assert.equal(prefillWorker.role, 'prefill');
    assert.equal(prefillWorker.endpointId.component, 'prefill');
    const card = await observer.get(
      `/dynamo/v1/mdc/${namespace}/prefill/generate/${prefillWorker.instanceId}`,
    );
    assert.ok(isModelCard(card));
    assert.equal(card.modelType, 'prefill');
    assert.equal(card.displayName, 'fortune-llama');
    assert.equal(decodeWorker.endpointId.component, 'backend');
    assert.equal(decodeWorker.modelCard.modelType, 'chat');
    assert.equal(aggregated.transferAgent, undefined, 'an aggregated worker runs no agent by default');
    assert.equal(prefillWorker.transferAgent?.name, prefillWorker.instanceId);
    assert.equal(decodeWorker.transferAgent?.name, decodeWorker.instanceId);
  });

  test('prefill → pull → decode gives the aggregated greedy output; the blocks are released', async () => {
    const request = greedyRequest(prompt, 10, 'disagg');
    const expected = await generate(aggregated, greedyRequest(prompt, 10, 'agg'));

    const params = await prefill(prefillWorker, request);
    assert.equal(params.remoteAgent, prefillWorker.instanceId);
    assert.equal(params.remoteRegion, 'kv');
    assert.equal(params.numTokens, prompt.length);
    assert.equal(params.remoteBlockIds.length, Math.ceil(prompt.length / 16));
    assert.equal(prefillWorker.engine.heldBlocks(), params.remoteBlockIds.length);

    const outputs = await decode(decodeWorker, request, params);
    assert.deepEqual(tokens(outputs), tokens(expected));
    assert.equal(
      outputs[0]?.numCachedTokens,
      prompt.length - 1,
      'decode computed only the last prompt token',
    );

    // The READ's notification frees the held blocks on the prefill worker.
    await eventually(() => prefillWorker.engine.heldBlocks() === 0, 'the release notification');
    assert.equal(prefillWorker.engine.heldRequests(), 0);
    for (const worker of [prefillWorker, decodeWorker]) {
      await eventually(() => worker.engine.kv.stats().activeBlocks === 0, 'no active blocks');
      const text = await metricsText(worker);
      assert.equal(metricValue(text, 'dynamo_component_kvstats_active_blocks'), 0);
      assert.equal(metricValue(text, 'dynamo_component_kv_transfer_held_blocks'), 0);
    }

    // The decode worker's cache was cold: it pulled every block of prompt tokens [0, P-1), all layers, K+V.
    const kv = (decodeWorker.engine as LlmEngine).kvTensors;
    const blockBytes = kv.numLayers * 2 * kv.blockSize * kv.numKvHeads * kv.headDim * 4;
    const decodeMetrics = await metricsText(decodeWorker);
    assert.equal(
      metricValue(decodeMetrics, 'dynamo_component_kv_transfer_bytes_total', 'direction="in"'),
      Math.ceil((prompt.length - 1) / kv.blockSize) * blockBytes,
    );
    assert.equal(metricValue(decodeMetrics, 'dynamo_component_kv_transfer_total', 'outcome="ok"'), 1);
    assert.equal(metricValue(decodeMetrics, 'dynamo_component_kv_transfer_total', 'outcome="error"'), 0);
    assert.equal(metricValue(decodeMetrics, 'dynamo_component_kv_transfer_duration_seconds_count'), 1);
    const prefillMetrics = await metricsText(prefillWorker);
    assert.equal(
      metricValue(prefillMetrics, 'dynamo_component_kv_transfer_bytes_total', 'direction="out"'),
      metricValue(decodeMetrics, 'dynamo_component_kv_transfer_bytes_total', 'direction="in"'),
      'the bytes the prefill worker served are the bytes the decode worker pulled',
    );
  });

  test('the agent metadata lives with the prefill worker; a pull after it stopped falls back locally', async () => {
    const key = agentMetadataKey(namespace, prefillWorker.instanceId);
    assert.ok(await observer.get(key), 'metadata published while the prefill worker runs');
    assert.ok(await observer.get(agentMetadataKey(namespace, decodeWorker.instanceId)));

    const request = greedyRequest(prompt, 6, 'gone');
    const expected = await generate(aggregated, greedyRequest(prompt, 6, 'agg'));
    const params = await prefill(prefillWorker, request);
    await prefillWorker.stop({ drainMs: 0 });
    assert.equal(await observer.get(key), undefined, 'metadata deleted at stop');
    await eventually(
      () => decodeWorker.transferAgent?.knowsAgent(prefillWorker.instanceId) === false,
      'the decode agent to drop the peer',
    );

    const outputs = await decode(decodeWorker, request, params);
    assert.deepEqual(tokens(outputs), tokens(expected), 'the fallback prefills locally: same output');
    const text = await metricsText(decodeWorker);
    assert.equal(metricValue(text, 'dynamo_component_kv_transfer_total', 'outcome="error"'), 1);
    assert.equal(metricValue(text, 'dynamo_component_kv_transfer_fallbacks_total', 'reason="peer_gone"'), 1);
    await eventually(() => decodeWorker.engine.kv.stats().activeBlocks === 0, 'no active blocks');
  });
});

describe('mocker prefill and decode workers: simulated pull, real release notification', () => {
  const namespace = freshNamespace();
  const mocker = (extra: Partial<WorkerOptions>) =>
    options(namespace, {
      engine: { kind: 'mocker', modelDir: defaultModelDir, options: { speedupRatio: 0 } },
      systemPort: null,
      ...extra,
    });
  let prefillWorker: Worker;
  let decodeWorker: Worker;
  let shortHold: Worker;

  before(async () => {
    [prefillWorker, decodeWorker, shortHold] = await startAll([
      Worker.start(mocker({ role: 'prefill' })),
      Worker.start(
        mocker({ role: 'decode', kvTransfer: { link: { bytesPerSecond: 1e9, latencyMs: 0.01 } } }),
      ),
      Worker.start(mocker({ role: 'prefill', kvTransfer: { holdTimeoutMs: 100 } })),
    ]);
  });
  after(async () => {
    await Promise.all([prefillWorker?.stop(), decodeWorker?.stop(), shortHold?.stop()]);
  });

  test('decode completes, the release frees the prefill blocks, the simulated bytes are counted', async () => {
    const prompt = Array.from({ length: 40 }, (_, i) => 10 + i);
    const request = greedyRequest(prompt, 8, 'mock');
    const params = await prefill(prefillWorker, request);
    assert.equal(params.remoteAgent, prefillWorker.instanceId);
    assert.ok(prefillWorker.engine.heldBlocks() > 0);

    const outputs = await decode(decodeWorker, request, params);
    assert.equal(outputs.length, 8);
    assert.equal(outputs.at(-1)?.finishReason, 'length');
    await eventually(() => prefillWorker.engine.heldBlocks() === 0, 'the release notification');

    const text = await metricsText(decodeWorker);
    assert.ok((metricValue(text, 'dynamo_component_kv_transfer_bytes_total', 'direction="in"') ?? 0) > 0);
    assert.equal(metricValue(text, 'dynamo_component_kv_transfer_total', 'outcome="ok"'), 1);
    for (const worker of [prefillWorker, decodeWorker])
      await eventually(() => worker.engine.kv.stats().activeBlocks === 0, 'no active blocks');
  });

  test('an unpulled hold expires (counted); pulling it afterwards falls back with reason hold_expired', async () => {
    const prompt = Array.from({ length: 24 }, (_, i) => 50 + i);
    const request = greedyRequest(prompt, 4, 'expire');
    const params = await prefill(shortHold, request);
    await eventually(() => shortHold.engine.heldBlocks() === 0, 'the hold to expire');
    const held = await metricsText(shortHold);
    assert.equal(metricValue(held, 'dynamo_component_kv_transfer_hold_expired_total'), 1);

    const outputs = await decode(decodeWorker, request, params);
    assert.equal(outputs.length, 4, 'the request still completes');
    const text = await metricsText(decodeWorker);
    assert.equal(
      metricValue(text, 'dynamo_component_kv_transfer_fallbacks_total', 'reason="hold_expired"'),
      1,
    );
  });
});
