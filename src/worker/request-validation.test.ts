/**
 * The worker validates a generate payload the way the frontend does, because the request plane can be
 * reached without the frontend: prompt + maxTokens beyond the context is refused (invalid_request, before
 * the engine sees it), as the frontend's 400 would; a request inside the context is served.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { MockEngine } from '../mocker/index.ts';
import { DEFAULT_SAMPLING, type EngineRequest } from '../protocols/engine.ts';
import { asRequestId } from '../protocols/ids.ts';
import { MemoryDiscoveryStore } from '../runtime/discovery/index.ts';
import { MemoryEventBus } from '../runtime/events/index.ts';
import { RemoteError, TcpRequestPlane } from '../runtime/request-plane/index.ts';
import { defaultModelDir } from '../util/paths.ts';
import { freshNamespace } from './testing/worker-kit.ts';
import { Worker } from './worker.ts';

let worker: Worker;
let engine: MockEngine;
const plane = new TcpRequestPlane();

before(async () => {
  worker = await Worker.start({
    engine: {
      kind: 'custom',
      modelDir: defaultModelDir,
      create: async (workerId) => {
        engine = new MockEngine({ workerId, speedupRatio: 0 });
        return engine;
      },
    },
    namespace: freshNamespace(),
    discovery: { backend: 'memory', memoryStore: new MemoryDiscoveryStore() },
    runtime: { eventBus: new MemoryEventBus() },
    canaryIntervalMs: 0,
    systemPort: null,
  });
});
after(async () => {
  await plane.close();
  await worker?.stop();
});

function request(promptTokens: number, maxTokens: number): EngineRequest {
  return {
    requestId: asRequestId(`r-${promptTokens}-${maxTokens}`),
    promptTokenIds: Array.from({ length: promptTokens }, (_, i) => 10 + i),
    sampling: { ...DEFAULT_SAMPLING, temperature: 0 },
    stopping: { maxTokens, stopTokenIds: [], ignoreEos: true },
  };
}

async function call(payload: EngineRequest): Promise<unknown[]> {
  const items: unknown[] = [];
  for await (const item of plane.call(worker.address, 'generate', payload)) items.push(item);
  return items;
}

test('maxTokens beyond the context is refused as the frontend refuses it', async () => {
  const context = engine.maxModelLen;
  for (const [prompt, maxTokens] of [
    [8, 100_000_000],
    [8, context - 7],
    [context - 1, 2],
  ]) {
    await assert.rejects(call(request(prompt, maxTokens)), (err) => {
      assert.ok(err instanceof RemoteError);
      assert.equal(err.code, 'invalid_request');
      assert.match(err.remoteMessage, new RegExp(`maximum context length is ${context} tokens`));
      return true;
    });
  }
});

test('a request that fits the context exactly is served', async () => {
  const context = engine.maxModelLen;
  assert.equal((await call(request(8, 4))).length, 4);
  const fits = await call(request(context - 2, 2));
  assert.equal(fits.length, 2);
});
