/**
 * RoutedEngine's failure handling, against scripted workers on the in-memory request plane (the same
 * stream machinery as TCP): migration after a mid-stream disconnect continues exactly where the dead
 * worker stopped, connect failures move on without counting as a migration, busy and empty pools are 503s.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULT_SAMPLING, type EngineRequest } from '../protocols/engine.ts';
import { asRequestId, asWorkerId, type SequenceHash, type WorkerId } from '../protocols/ids.ts';
import {
  AllWorkersBusyError,
  createRouter,
  NoWorkersError,
  Router,
  type RouterQueueOptions,
  type RoutingPolicy,
} from '../router/index.ts';
import {
  InMemoryRequestPlane,
  type ServeHandle,
  StreamDisconnectedError,
} from '../runtime/request-plane/index.ts';
import { computeBlockHashes } from '../tokens/block-hash.ts';
import { InvalidRequestError } from '../util/errors.ts';
import { toErrorResponse } from './http-errors.ts';
import { RequestBlockHashes } from './request-block-hashes.ts';
import { RoutedEngine } from './routed-engine.ts';
import { quietLogs } from './testing/frontend-kit.ts';

quietLogs();

/** The token a scripted worker emits at `position` (prompt + output index): any worker agrees. */
const tokenAt = (position: number) => (position * 7 + 3) % 1000;

interface ScriptedWorker {
  workerId: WorkerId;
  handle: ServeHandle;
  requests: EngineRequest[];
}

interface Script {
  /** Stop the worker abruptly (a crash) after sending this many tokens. */
  dieAfter?: number;
  /** Refuse every request as invalid. */
  refuse?: boolean;
  /** The request field such a refusal names. */
  refuseParam?: string;
  /** Turn every request away before starting it (a draining worker): RemoteError 'unavailable'. */
  unavailable?: boolean;
  /** Hold each request's first token until this settles (a long prefill). */
  prefillGate?: Promise<unknown>;
}

async function scriptedWorker(plane: InMemoryRequestPlane, id: string, script: Script = {}) {
  const worker = { workerId: asWorkerId(id), requests: [] as EngineRequest[] } as ScriptedWorker;
  worker.handle = await plane.serve({
    generate: async function* (payload) {
      const request = payload as EngineRequest;
      worker.requests.push(request);
      if (script.refuse) {
        throw Object.assign(new Error('prompt too long'), {
          code: 'invalid_request',
          ...(script.refuseParam ? { param: script.refuseParam } : {}),
        });
      }
      if (script.unavailable) throw Object.assign(new Error('draining'), { code: 'unavailable' });
      const start = request.promptTokenIds.length;
      await script.prefillGate;
      for (let i = 0; i < request.stopping.maxTokens; i++) {
        if (i === script.dieAfter) {
          void worker.handle.stop({ drainMs: 0 });
          await new Promise(() => {}); // never finishes: the stop cancels the stream
        }
        const last = i === request.stopping.maxTokens - 1;
        yield {
          requestId: request.requestId,
          tokenId: tokenAt(start + i),
          numCachedTokens: 3,
          ...(last ? { finishReason: 'length' } : {}),
        };
        await new Promise((resolve) => setImmediate(resolve));
      }
    },
  });
  return worker;
}

async function setup(
  scripts: Script[],
  options: {
    migrationLimit?: number;
    busyThreshold?: number;
    router?: string;
    policy?: RoutingPolicy;
    queue?: RouterQueueOptions;
  } = {},
) {
  const plane = new InMemoryRequestPlane();
  const flags = {
    decisionLog: 'off',
    blockSize: 4,
    busyThreshold: options.busyThreshold,
    queue: options.queue,
  } as const;
  const router = options.policy
    ? new Router({ ...flags, policy: options.policy })
    : await createRouter({ ...flags, router: options.router ?? 'round-robin' });
  const workers: ScriptedWorker[] = [];
  for (const [i, script] of scripts.entries()) {
    const worker = await scriptedWorker(plane, `w${i + 1}`, script);
    workers.push(worker);
    const address = worker.handle.address;
    router.addWorker({
      workerId: worker.workerId,
      blockSize: 4,
      totalBlocks: 100,
      maxNumBatchedTokens: 64,
      address,
    });
  }
  const engine = new RoutedEngine({
    info: { name: 'm', contextLength: 1000, vocabSize: 1000, eosTokenIds: [] },
    router,
    plane,
    blockSize: 4,
    migrationLimit: options.migrationLimit,
  });
  return { plane, router, workers, engine };
}

function request(promptLength: number, maxTokens: number): EngineRequest {
  return {
    requestId: asRequestId(`r-${promptLength}-${maxTokens}`),
    promptTokenIds: Array.from({ length: promptLength }, (_, i) => i + 1),
    sampling: { ...DEFAULT_SAMPLING, temperature: 0 },
    stopping: { maxTokens, stopTokenIds: [], ignoreEos: true, minTokens: 8 },
  };
}

async function collect(engine: RoutedEngine, req: EngineRequest): Promise<number[]> {
  const ids: number[] = [];
  for await (const output of engine.generate(req)) ids.push(output.tokenId);
  return ids;
}

test('a request streams from one worker and leaves nothing in flight in the router', async () => {
  const { engine, router } = await setup([{}, {}]);
  const ids = await collect(engine, request(10, 5));
  assert.deepEqual(ids, [10, 11, 12, 13, 14].map(tokenAt));
  assert.equal(
    router.active.counts(asWorkerId('w1')).requests + router.active.counts(asWorkerId('w2')).requests,
    0,
  );
});

test('a worker dying mid-stream: the request migrates and the stream has no gap and no duplicate', async () => {
  const { engine, workers, router } = await setup([{ dieAfter: 6 }, {}], { migrationLimit: 1 });
  const req = request(10, 20);
  const ids = await collect(engine, req);
  assert.deepEqual(
    ids,
    Array.from({ length: 20 }, (_, i) => tokenAt(10 + i)),
  );
  const resent = workers[1].requests[0];
  assert.equal(resent.promptTokenIds.length, 10 + 6, 'prompt + the 6 tokens already streamed');
  assert.deepEqual(resent.promptTokenIds.slice(10), ids.slice(0, 6));
  assert.equal(resent.stopping.maxTokens, 14);
  assert.equal(resent.stopping.minTokens, 2);
  assert.equal(resent.requestId, req.requestId, 'the request id follows the request');
  assert.ok(router.isQuarantined(asWorkerId('w1')));
});

test('a migrated constrained request resumes its grammar after the tokens already streamed', async () => {
  const { engine, workers } = await setup([{ dieAfter: 4 }, {}], { migrationLimit: 1 });
  const req = { ...request(10, 8), guidedDecoding: { schema: '{"type":"object"}' } };
  const ids = await collect(engine, req);
  assert.equal(ids.length, 8);
  assert.equal(workers[0].requests[0].guidedDecoding?.acceptedTokenIds, undefined);
  assert.deepEqual(workers[1].requests[0].guidedDecoding, {
    schema: '{"type":"object"}',
    acceptedTokenIds: ids.slice(0, 4),
  });
});

test('a refusal that names a field keeps it: the client sees param', async () => {
  const { engine } = await setup([{ refuse: true, refuseParam: 'response_format' }]);
  await assert.rejects(
    collect(engine, request(5, 4)),
    (err: InvalidRequestError) => err.param === 'response_format',
  );
});

test('without migration a mid-stream death reaches the caller', async () => {
  const { engine } = await setup([{ dieAfter: 3 }, {}], { migrationLimit: 0 });
  await assert.rejects(collect(engine, request(10, 20)), StreamDisconnectedError);
});

test('an unreachable worker is skipped without using a migration', async () => {
  const { engine, workers } = await setup([{}, {}], { migrationLimit: 0 });
  await workers[0].handle.stop({ drainMs: 0 }); // round-robin starts at w1: now a ConnectError
  const ids = await collect(engine, request(5, 4));
  assert.deepEqual(ids, [5, 6, 7, 8].map(tokenAt));
  assert.equal(workers[1].requests.length, 1);
});

test('a request the worker refuses is a 400-class InvalidRequestError', async () => {
  const { engine } = await setup([{ refuse: true }]);
  await assert.rejects(collect(engine, request(5, 4)), InvalidRequestError);
});

test('every worker busy → 503 busy; no worker at all → NoWorkersError', async () => {
  const { engine, router, workers } = await setup([{}, {}], { busyThreshold: 0.9 });
  for (const w of workers) {
    router.updateLoad({
      workerId: w.workerId,
      activeDecodeBlocks: 95,
      activePrefillTokens: 0,
      kvUsedBlocks: 95,
      kvTotalBlocks: 100,
      numWaiting: 3,
      numRunning: 10,
      gpuCacheUsagePerc: 0.95,
    });
  }
  await assert.rejects(collect(engine, request(5, 4)), (err: unknown) => {
    assert.ok(err instanceof AllWorkersBusyError);
    const { status, body } = toErrorResponse(err);
    assert.equal(status, 503);
    assert.equal(body.error.code, 'busy');
    assert.match(body.error.message, /^All workers are busy, retry later: /);
    return true;
  });
  for (const w of workers) router.removeWorker(w.workerId);
  await assert.rejects(collect(engine, request(5, 4)), NoWorkersError);
});

test('the session id reaches the routing policy: a sticky-session policy keeps a session on one worker', async () => {
  const sticky = new URL('../router/examples/sticky-session-policy.ts', import.meta.url).pathname;
  const { engine, workers } = await setup([{}, {}, {}], { router: sticky });
  for (let i = 0; i < 6; i++) {
    const req = { ...request(10 + i, 2), requestId: asRequestId(`s-${i}`), sessionId: 'conversation-7' };
    await collect(engine, req);
  }
  const served = workers.map((w) => w.requests.length);
  assert.deepEqual(
    served.filter((n) => n > 0),
    [6],
    `all six turns of one session on one worker, got ${served}`,
  );
  assert.equal(workers.find((w) => w.requests.length > 0)!.requests[0]!.sessionId, 'conversation-7');
});

/** A policy that takes the first offered worker and records what each routing attempt looked like. */
function attemptSpy() {
  const attempts: { offered: WorkerId[]; blockHashes: readonly SequenceHash[] }[] = [];
  const policy: RoutingPolicy = {
    name: 'first-offered',
    select: (request, workers) => {
      attempts.push({ offered: workers.map((w) => w.workerId), blockHashes: request.blockHashes });
      return { workerId: workers[0]!.workerId, reason: 'first offered' };
    },
  };
  return { policy, attempts };
}

test('a worker that turns the request away: the router quarantines it, the retry goes elsewhere with the same hashes', async () => {
  const { policy, attempts } = attemptSpy();
  const { engine, router, workers } = await setup([{ unavailable: true }, {}], { policy });
  const req = request(10, 4);
  const ids = await collect(engine, req);
  assert.deepEqual(ids, [10, 11, 12, 13].map(tokenAt));
  assert.equal(workers[0].requests.length, 1, 'w1 was tried once');
  assert.equal(workers[1].requests.length, 1, 'then w2 served the request');
  assert.deepEqual(
    attempts.map((a) => a.offered),
    [['w1', 'w2'], ['w2']],
    'the retry excludes the worker already tried',
  );
  assert.ok(router.isQuarantined(asWorkerId('w1')), 'the router was told about the refusal');
  assert.equal(attempts[1]!.blockHashes, attempts[0]!.blockHashes, 'hashed once: the retry reuses them');
  assert.deepEqual(attempts[0]!.blockHashes, computeBlockHashes(req.promptTokenIds, 4).sequence);

  await collect(engine, { ...request(6, 2), requestId: asRequestId('next') });
  assert.deepEqual(attempts[2]!.offered, ['w2'], 'a later request skips the quarantined worker too');
});

test('a migration extends the request block hashes with the streamed tokens instead of starting over', async () => {
  const { policy, attempts } = attemptSpy();
  const { engine } = await setup([{ dieAfter: 6 }, {}], { policy, migrationLimit: 1 });
  const req = request(10, 20);
  const ids = await collect(engine, req);
  const resentPrompt = [...req.promptTokenIds, ...ids.slice(0, 6)];
  const [first, second] = attempts.map((a) => a.blockHashes);
  assert.deepEqual(first, computeBlockHashes(req.promptTokenIds, 4).sequence);
  assert.deepEqual(second, computeBlockHashes(resentPrompt, 4).sequence);
  assert.equal(second!.length, 4, '10 prompt + 6 streamed tokens = 4 full blocks of 4');
});

test('RequestBlockHashes: one array per block count, extended from the chain as the token list grows', () => {
  const hashes = new RequestBlockHashes(4);
  const tokens = Array.from({ length: 9 }, (_, i) => 100 + i);
  const two = hashes.of(tokens);
  assert.equal(hashes.of(tokens), two, 'same tokens: the same array, nothing rehashed');
  assert.equal(hashes.of([...tokens, 109, 110]), two, 'a partial block adds no hash');
  const three = hashes.of([...tokens, 109, 110, 111]);
  assert.notEqual(three, two);
  assert.deepEqual(three, computeBlockHashes([...tokens, 109, 110, 111], 4).sequence);
  assert.deepEqual(two, three.slice(0, 2), 'the earlier array is left as it was');
});

test('predicted blocks: a finished request keeps them on its worker, a failed attempt leaves none behind', async () => {
  // Scripted workers publish no KV events: whatever the router still predicts is the overlay's own state.
  const holds = (router: Router, worker: string, req: EngineRequest) =>
    computeBlockHashes(req.promptTokenIds, 4).sequence.every((h) =>
      router.predicted!.holds(asWorkerId(worker), h),
    );

  const done = await setup([{}, {}]);
  const ok = request(12, 3);
  await collect(done.engine, ok);
  assert.ok(holds(done.router, 'w1', ok), 'done: its prompt is cached on w1, until its events arrive');

  const migrated = await setup([{ dieAfter: 2 }, {}], { migrationLimit: 1 });
  const moved = request(12, 5);
  await collect(migrated.engine, moved);
  assert.ok(!holds(migrated.router, 'w1', moved), 'the dead worker predicts nothing');
  assert.ok(holds(migrated.router, 'w2', moved), 'the worker that finished it does');

  const refused = await setup([{ unavailable: true }, {}]);
  const retried = request(12, 3);
  await collect(refused.engine, retried);
  assert.ok(!holds(refused.router, 'w1', retried), 'the worker that turned it away predicts nothing');
  assert.ok(holds(refused.router, 'w2', retried));

  const cancelled = await setup([{}, {}]);
  const abort = new AbortController();
  abort.abort();
  const never = request(12, 3);
  for await (const _ of cancelled.engine.generate(never, abort.signal)) assert.fail('no output after abort');
  assert.equal(cancelled.router.predicted!.stats().entries, 0, 'cancelled before its first token: dropped');
});

test('router queue: a request waits in the router while the worker prefills, and goes at the first token', async () => {
  let endPrefill!: () => void;
  const prefillGate = new Promise<void>((resolve) => {
    endPrefill = resolve;
  });
  const { engine, router, workers } = await setup([{ prefillGate }], { queue: { threshold: 0 } });
  const first = request(10, 6);
  const second = { ...request(12, 4), requestId: asRequestId('r-second') };
  const outputs: string[] = [];
  const run = async (req: EngineRequest) => {
    for await (const output of engine.generate(req)) outputs.push(`${req.requestId}:${output.tokenId}`);
  };
  const both = Promise.all([run(first), run(second)]);
  // The first is routed (the worker had no backlog); the second waits in the router, not at the worker.
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(router.queue?.depth, 1);
  assert.equal(workers[0].requests.length, 1);
  endPrefill();
  await both;
  assert.equal(router.queue?.depth, 0);
  assert.deepEqual(
    workers[0].requests.map((r) => r.requestId),
    [first.requestId, 'r-second'],
  );
  // It reached the worker only after the first request's first token.
  assert.ok(
    outputs.indexOf(`${first.requestId}:${tokenAt(10)}`) < outputs.indexOf(`r-second:${tokenAt(12)}`),
  );
  assert.equal(router.active.counts(asWorkerId('w1')).requests, 0);
});

test('router queue: a client that leaves while its request waits there takes it out of line', async () => {
  let endPrefill!: () => void;
  const prefillGate = new Promise<void>((resolve) => {
    endPrefill = resolve;
  });
  const { engine, router, workers } = await setup([{ prefillGate }], {
    queue: { threshold: 0, policy: 'wspt' },
  });
  const first = collect(engine, request(10, 30));
  await new Promise((resolve) => setImmediate(resolve));
  const leaving = new AbortController();
  const gone = collect2(engine, { ...request(8, 4), requestId: asRequestId('r-gone') }, leaving.signal);
  assert.equal(router.queue?.depth, 1);
  leaving.abort(new Error('client left'));
  assert.deepEqual(
    await gone,
    [],
    'a cancelled request ends its stream quietly, as from the admission queue',
  );
  assert.equal(router.queue?.depth, 0);
  endPrefill();
  await first;
  assert.deepEqual(
    workers[0].requests.map((r) => r.requestId),
    ['r-10-30'],
    'the worker never saw the request that left',
  );
});

async function collect2(engine: RoutedEngine, req: EngineRequest, signal: AbortSignal): Promise<number[]> {
  const ids: number[] = [];
  for await (const output of engine.generate(req, signal)) ids.push(output.tokenId);
  return ids;
}
