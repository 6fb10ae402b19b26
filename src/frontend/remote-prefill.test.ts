/**
 * The disaggregated hand-off (remote-prefill.ts inside RoutedEngine), against scripted prefill and decode
 * workers on the in-memory request plane: what each worker is sent, what the client streams, the decision
 * (cache-aware, queue-aware), the counters, the routers' in-flight ledgers, and every prefill failure
 * falling back to local prefill on the decode worker.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULT_SAMPLING, type EngineRequest } from '../protocols/engine.ts';
import { asRequestId, asWorkerId, type WorkerId } from '../protocols/ids.ts';
import { hashToWire, type KvCacheEvent } from '../protocols/kv-events.ts';
import type { KvTransferParams } from '../protocols/kv-transfer.ts';
import { createRouter, type DisaggPolicyOptions, type Router } from '../router/index.ts';
import { InMemoryRequestPlane, type ServeHandle } from '../runtime/request-plane/index.ts';
import { computeBlockHashes } from '../tokens/block-hash.ts';
import { configureLogging } from '../util/logger.ts';
import { FrontendMetrics } from './metrics.ts';
import { prefillRequestOf } from './remote-prefill.ts';
import { RoutedEngine } from './routed-engine.ts';
import { eventually, metricValue, quietLogs } from './testing/frontend-kit.ts';

quietLogs();

const BLOCK = 4;
const PREFILL_TOKEN = 999; // what a prefill worker samples: must never reach the client
/** The token a decode worker emits at `position` (prompt + output index): any worker agrees. */
const tokenAt = (position: number) => (position * 7 + 3) % 1000;

interface Worker {
  workerId: WorkerId;
  handle: ServeHandle;
  requests: EngineRequest[];
}

interface PrefillScript {
  /** Answer without kvTransferParams (a worker not started with --role prefill, or a version mismatch). */
  noParams?: boolean;
  /** Turn requests away before starting them: RemoteError 'unavailable'. */
  unavailable?: boolean;
  /** Crash before answering: the stream is cut (StreamDisconnectedError). */
  die?: boolean;
  /** Wait for this before answering (a queued prefill). */
  gate?: Promise<void>;
}

interface DecodeScript {
  /** Crash after streaming this many tokens. */
  dieAfter?: number;
  unavailable?: boolean;
}

function paramsFor(workerId: WorkerId, request: EngineRequest): KvTransferParams {
  const blocks = Math.ceil(request.promptTokenIds.length / BLOCK);
  return {
    remoteAgent: workerId,
    remoteRegion: 'kv',
    remoteRequestId: request.requestId,
    remoteBlockIds: Array.from({ length: blocks }, (_, i) => 50 + i),
    numTokens: request.promptTokenIds.length,
    firstTokenId: PREFILL_TOKEN,
    expiresAtMs: 4_000_000_000_000, // a fixed instant: the test compares params by value
  };
}

async function prefillWorker(plane: InMemoryRequestPlane, id: string, script: PrefillScript = {}) {
  const worker = { workerId: asWorkerId(id), requests: [] as EngineRequest[] } as Worker;
  worker.handle = await plane.serve({
    generate: async function* (payload) {
      const request = payload as EngineRequest;
      worker.requests.push(request);
      if (script.unavailable) throw Object.assign(new Error('draining'), { code: 'unavailable' });
      if (script.die) {
        void worker.handle.stop({ drainMs: 0 });
        await new Promise(() => {});
      }
      await script.gate;
      const params = script.noParams ? {} : { kvTransferParams: paramsFor(worker.workerId, request) };
      yield {
        requestId: request.requestId,
        tokenId: PREFILL_TOKEN,
        numCachedTokens: 0,
        finishReason: 'length',
        ...params,
      };
    },
  });
  return worker;
}

async function decodeWorker(plane: InMemoryRequestPlane, id: string, script: DecodeScript = {}) {
  const worker = { workerId: asWorkerId(id), requests: [] as EngineRequest[] } as Worker;
  worker.handle = await plane.serve({
    generate: async function* (payload) {
      const request = payload as EngineRequest;
      worker.requests.push(request);
      if (script.unavailable) throw Object.assign(new Error('draining'), { code: 'unavailable' });
      const transfer = request.kvTransfer;
      // A decode worker that pulled the prompt's KV recomputes only its last token.
      const cached = transfer && 'doRemotePrefill' in transfer ? transfer.doRemotePrefill.numTokens - 1 : 0;
      const start = request.promptTokenIds.length;
      for (let i = 0; i < request.stopping.maxTokens; i++) {
        if (i === script.dieAfter) {
          void worker.handle.stop({ drainMs: 0 });
          await new Promise(() => {});
        }
        const last = i === request.stopping.maxTokens - 1;
        yield {
          requestId: request.requestId,
          tokenId: tokenAt(start + i),
          numCachedTokens: cached,
          ...(last ? { finishReason: 'length' } : {}),
        };
        await new Promise((resolve) => setImmediate(resolve));
      }
    },
  });
  return worker;
}

interface Setup {
  decode?: DecodeScript[];
  prefill?: PrefillScript[];
  policy?: Partial<DisaggPolicyOptions>;
  router?: string;
  migrationLimit?: number;
}

async function setup(options: Setup = {}) {
  const plane = new InMemoryRequestPlane();
  // The scripted workers keep no KV cache and publish no events: the routers must not predict one (with
  // predictions, a repeated prompt would count as cached on the decode worker that ran it, and go local).
  const flags = {
    router: options.router ?? 'round-robin',
    decisionLog: 'off',
    blockSize: BLOCK,
    predictBlocks: false,
  } as const;
  const [router, prefillRouter] = [await createRouter(flags), await createRouter(flags)];
  const add = (r: Router, w: Worker) =>
    r.addWorker({ workerId: w.workerId, blockSize: BLOCK, totalBlocks: 100, address: w.handle.address });
  const decodes: Worker[] = [];
  for (const [i, script] of (options.decode ?? [{}]).entries()) {
    decodes.push(await decodeWorker(plane, `d${i + 1}`, script));
    add(router, decodes[i]!);
  }
  const prefills: Worker[] = [];
  for (const [i, script] of (options.prefill ?? [{}]).entries()) {
    prefills.push(await prefillWorker(plane, `p${i + 1}`, script));
    add(prefillRouter, prefills[i]!);
  }
  const metrics = new FrontendMetrics();
  const engine = new RoutedEngine({
    info: { name: 'm', contextLength: 1000, vocabSize: 1000, eosTokenIds: [] },
    router,
    prefillRouter,
    plane,
    blockSize: BLOCK,
    migrationLimit: options.migrationLimit,
    disagg: { maxLocalPrefillLength: 8, maxPrefillQueueSize: 2, ...options.policy },
    metrics,
  });
  const counter = async (name: string, labels: Record<string, string> = {}) =>
    metricValue((await metrics.render()).body, name, labels);
  const decisions = (reason: string) => counter('dynamo_frontend_disagg_decisions_total', { reason });
  const failures = (reason?: string) =>
    counter('dynamo_frontend_remote_prefill_failures_total', reason ? { reason } : {});
  const inFlight = (r: Router) => r.workers.reduce((n, w) => n + r.active.counts(w.workerId).requests, 0);
  return { router, prefillRouter, decodes, prefills, engine, decisions, failures, inFlight };
}

function request(promptLength: number, maxTokens: number, id = `r-${promptLength}`): EngineRequest {
  return {
    requestId: asRequestId(id),
    promptTokenIds: Array.from({ length: promptLength }, (_, i) => i + 1),
    sampling: { ...DEFAULT_SAMPLING, temperature: 0 },
    stopping: { maxTokens, stopTokenIds: [], ignoreEos: true, minTokens: 2 },
    logprobs: 1,
  };
}

async function collect(engine: RoutedEngine, req: EngineRequest) {
  const outputs = [];
  for await (const output of engine.generate(req)) outputs.push(output);
  return { ids: outputs.map((o) => o.tokenId), cached: outputs.at(-1)?.numCachedTokens };
}

test('a long prompt is prefilled remotely: one token held on the prefill worker, the decode worker pulls it', async () => {
  const s = await setup();
  const req = request(13, 5);
  const { ids, cached } = await collect(s.engine, req);
  assert.deepEqual(
    ids,
    [13, 14, 15, 16, 17].map(tokenAt),
    'decode tokens only: the prefill token is not streamed',
  );
  assert.ok(!ids.includes(PREFILL_TOKEN));
  assert.equal(cached, 12, 'usage.cached_tokens: what the decode worker did not recompute (P − 1)');

  const [sentToPrefill] = s.prefills[0]!.requests;
  assert.deepEqual(sentToPrefill, prefillRequestOf(req));
  assert.equal(sentToPrefill!.stopping.maxTokens, 1);
  assert.equal(sentToPrefill!.stopping.minTokens, undefined, 'min_tokens would contradict maxTokens 1');
  assert.deepEqual(sentToPrefill!.kvTransfer, { doRemoteDecode: true });
  assert.deepEqual(sentToPrefill!.promptTokenIds, req.promptTokenIds);

  const [sentToDecode] = s.decodes[0]!.requests;
  assert.deepEqual(sentToDecode!.kvTransfer, { doRemotePrefill: paramsFor(asWorkerId('p1'), req) });
  assert.equal(sentToDecode!.stopping.maxTokens, 5, 'the decode worker generates every output token');
  assert.equal(sentToDecode!.logprobs, 1);
  assert.equal(await s.decisions('remote'), 1);
  assert.equal(await s.failures(), 0);
  assert.equal(s.inFlight(s.prefillRouter), 0, 'the prefill ledger is settled when the prefill answers');
  assert.equal(s.inFlight(s.router), 0);
});

test('a short prompt stays on the decode worker; so does every prompt when no prefill worker is left', async () => {
  const s = await setup();
  const { ids, cached } = await collect(s.engine, request(8, 3)); // 8 uncached ≤ 8
  assert.deepEqual(ids, [8, 9, 10].map(tokenAt));
  assert.equal(cached, 0);
  assert.equal(s.prefills[0]!.requests.length, 0);
  assert.equal(s.decodes[0]!.requests[0]!.kvTransfer, undefined, 'a plain request: aggregated path');
  assert.equal(await s.decisions('short_uncached_prompt'), 1);

  s.prefillRouter.removeWorker(asWorkerId('p1'));
  await collect(s.engine, request(40, 2));
  assert.equal(s.decodes[0]!.requests[1]!.kvTransfer, undefined);
  assert.equal(await s.decisions('no_prefill_workers'), 1);
  assert.equal(await s.decisions('remote'), 0);
});

/** `stored` events for the full blocks of `tokens`, one block per event, chained. */
function storedEvents(tokens: number[]): KvCacheEvent[] {
  const { local, sequence } = computeBlockHashes(tokens, BLOCK);
  return sequence.map((hash, i) => ({
    eventId: i + 1,
    data: {
      type: 'stored',
      parentHash: i === 0 ? null : hashToWire(sequence[i - 1]!),
      blocks: [
        {
          blockHash: hashToWire(hash),
          tokensHash: hashToWire(local[i]!),
          tokenIds: tokens.slice(i * BLOCK, (i + 1) * BLOCK),
        },
      ],
    },
  }));
}

test('the decision counts what the chosen decode worker has cached: a cached prefix keeps a long prompt local', async () => {
  const s = await setup({ router: 'kv' });
  const req = request(16, 2);
  // The decode worker holds the first 3 blocks (12 tokens): only 4 are uncached, ≤ 8.
  for (const event of storedEvents(req.promptTokenIds.slice(0, 12)))
    s.router.applyKvEvent(asWorkerId('d1'), event);
  await collect(s.engine, req);
  assert.equal(s.prefills[0]!.requests.length, 0);
  assert.equal(await s.decisions('short_uncached_prompt'), 1);

  // Another prompt sharing only one block: 12 uncached > 8 → remote.
  const other = { ...request(16, 2, 'other'), promptTokenIds: [1, 2, 3, 4, ...Array(12).fill(7)] };
  await collect(s.engine, other);
  assert.equal(s.prefills[0]!.requests.length, 1);
  assert.equal(await s.decisions('remote'), 1);
});

test('a full prefill queue keeps the next request local; the queue is the remote prefills not yet answered', async () => {
  let open!: () => void;
  const gate = new Promise<void>((resolve) => (open = resolve));
  const s = await setup({ prefill: [{ gate }], policy: { maxPrefillQueueSize: 1 } });
  const first = collect(s.engine, request(20, 2, 'first'));
  await eventually(() => s.prefills[0]!.requests.length === 1, 'the first prefill in flight');
  assert.equal(s.inFlight(s.prefillRouter), 1);

  await collect(s.engine, request(20, 2, 'second'));
  assert.equal(await s.decisions('prefill_queue_full'), 1);
  assert.equal(s.prefills[0]!.requests.length, 1, 'the second request was not queued behind the first');

  open();
  await first;
  assert.equal(await s.decisions('remote'), 1);
  assert.equal(s.inFlight(s.prefillRouter), 0);
  await collect(s.engine, request(20, 2, 'third'));
  assert.equal(await s.decisions('remote'), 2, 'the queue drained: remote again');
});

for (const [name, script, reason] of [
  ['turns the request away', { unavailable: true }, 'unavailable'],
  ['dies before answering', { die: true }, 'disconnected'],
  ['answers without kvTransferParams', { noParams: true }, 'malformed'],
] as const) {
  test(`a prefill worker that ${name}: quarantined, the request is prefilled locally and completes`, async () => {
    const s = await setup({ prefill: [script, {}] });
    const { ids, cached } = await collect(s.engine, request(20, 4));
    assert.deepEqual(ids, [20, 21, 22, 23].map(tokenAt));
    assert.equal(cached, 0, 'prefilled locally');
    assert.equal(s.decodes[0]!.requests[0]!.kvTransfer, undefined, 'the fallback is a plain request');
    assert.ok(s.prefillRouter.isQuarantined(asWorkerId('p1')));
    assert.equal(await s.failures(reason), 1);
    assert.equal(s.inFlight(s.prefillRouter), 0);
    assert.equal(s.inFlight(s.router), 0);

    // The next long request skips the quarantined worker and goes remote on p2.
    const next = await collect(s.engine, request(20, 4, 'next'));
    assert.equal(next.cached, 19);
    assert.equal(s.prefills[1]!.requests.length, 1);
  });
}

test('an unreachable prefill worker (connection refused) and an empty prefill pool both fall back', async () => {
  const s = await setup();
  await s.prefills[0]!.handle.stop({ drainMs: 0 });
  const { ids } = await collect(s.engine, request(20, 2));
  assert.deepEqual(ids, [20, 21].map(tokenAt));
  assert.equal(await s.failures('connect'), 1);
  assert.ok(s.prefillRouter.isQuarantined(asWorkerId('p1')));
  // With its only worker quarantined the pool has no prefill worker to offer: decided locally, no failure.
  await collect(s.engine, request(20, 2, 'again'));
  assert.equal(await s.decisions('no_prefill_workers'), 1);
  assert.equal(await s.failures(), 1);
});

test('a decode worker dying mid-stream after a remote prefill: the migration is a plain continuation', async () => {
  const s = await setup({ decode: [{ dieAfter: 3 }, {}], migrationLimit: 1 });
  const req = request(20, 8);
  const { ids } = await collect(s.engine, req);
  assert.deepEqual(
    ids,
    Array.from({ length: 8 }, (_, i) => tokenAt(20 + i)),
    'no gap, no duplicate',
  );
  assert.ok(s.decodes[0]!.requests[0]!.kvTransfer, 'the first decode worker pulled');
  const resent = s.decodes[1]!.requests[0]!;
  assert.equal(
    resent.kvTransfer,
    undefined,
    'the held blocks may be gone: prefill prompt + streamed locally',
  );
  assert.equal(resent.promptTokenIds.length, 23);
  assert.equal(s.prefills[0]!.requests.length, 1, 'one prefill per request');
  assert.equal(s.inFlight(s.router), 0);
});

test('a decode worker that turns the request away: the next decode worker pulls the same held blocks', async () => {
  const s = await setup({ decode: [{ unavailable: true }, {}] });
  const req = request(20, 3);
  const { cached } = await collect(s.engine, req);
  assert.equal(cached, 19);
  assert.equal(s.prefills[0]!.requests.length, 1, 'not prefilled twice');
  assert.deepEqual(s.decodes[1]!.requests[0]!.kvTransfer, s.decodes[0]!.requests[0]!.kvTransfer);
  assert.equal(await s.decisions('remote'), 1, 'one decision per request');
});

test('one structured "disaggregation decision" line per request, at info once the model has prefill workers', async () => {
  const lines: Record<string, unknown>[] = [];
  configureLogging({ level: 'info', format: 'json', write: (line) => lines.push(JSON.parse(line)) });
  try {
    const s = await setup();
    await collect(s.engine, request(20, 2, 'long'));
    await collect(s.engine, request(4, 2, 'short'));
  } finally {
    quietLogs();
    configureLogging({ format: 'text', write: (line) => process.stderr.write(`${line}\n`) });
  }
  const decisions = lines.filter((l) => l.msg === 'disaggregation decision');
  assert.deepEqual(
    decisions.map(({ time: _time, ...fields }) => fields),
    [
      {
        level: 'info',
        msg: 'disaggregation decision',
        component: 'frontend',
        requestId: 'long',
        remote: true,
        reason: 'remote',
        uncachedTokens: 20,
        prefillQueue: 0,
        promptTokens: 20,
        decodeWorker: 'd1',
        prefillWorker: 'p1',
      },
      {
        level: 'info',
        msg: 'disaggregation decision',
        component: 'frontend',
        requestId: 'short',
        remote: false,
        reason: 'short_uncached_prompt',
        uncachedTokens: 4,
        prefillQueue: 0,
        promptTokens: 4,
        decodeWorker: 'd1',
      },
    ],
  );
});
