/**
 * One behavioural contract for every RequestPlane implementation (TCP and in-memory), run by
 * conformance.test.ts against both — like a protocol test suite a new server must pass before it ships.
 * Not a test file itself: it registers tests when called.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { DEFAULT_SAMPLING, type EngineOutput, type EngineRequest } from '../../protocols/engine.ts';
import { asRequestId } from '../../protocols/ids.ts';
import { ConnectError, RemoteError, RequestTimeoutError, StreamDisconnectedError } from './errors.ts';
import type { EndpointHandler, HandlerContext, RequestPlane, ServeHandle } from './request-plane.ts';

export type PlaneFactory = (options: { window?: number }) => RequestPlane;

export async function collect(stream: AsyncIterable<unknown>): Promise<unknown[]> {
  const items: unknown[] = [];
  for await (const item of stream) items.push(item);
  return items;
}

/** Iterate to the end; returns the items seen before the stream threw, and what it threw. */
export async function collectUntilError(
  stream: AsyncIterable<unknown>,
): Promise<{ items: unknown[]; error: unknown }> {
  const items: unknown[] = [];
  try {
    for await (const item of stream) items.push(item);
  } catch (error) {
    return { items, error };
  }
  assert.fail(`expected the stream to fail, but it ended normally after ${items.length} items`);
}

export async function waitFor(condition: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 500 && !condition(); i++) await sleep(10);
  assert.ok(condition(), `timed out waiting for ${what}`);
}

/** Resolves when the handler's signal aborts (a handler blocked on work that honours cancellation). */
function untilAborted(ctx: HandlerContext): Promise<void> {
  return new Promise((resolve) => {
    if (ctx.signal.aborted) resolve();
    ctx.signal.addEventListener('abort', () => resolve(), { once: true });
  });
}

/** Yields 0, 1, 2, ... every `ms` until cancelled; records what happened to it. */
function endlessTicker(ms: number) {
  const state = { produced: 0, aborted: false, finallyRan: false };
  const handler: EndpointHandler = async function* (_payload, ctx) {
    ctx.signal.addEventListener('abort', () => {
      state.aborted = true;
    });
    try {
      for (;;) {
        yield state.produced++;
        await sleep(ms);
      }
    } finally {
      state.finallyRan = true;
    }
  };
  return { state, handler };
}

export function requestPlaneConformance(name: string, makePlane: PlaneFactory): void {
  describe(`RequestPlane conformance: ${name}`, () => {
    const planes: RequestPlane[] = [];
    const servers: ServeHandle[] = [];
    after(async () => {
      for (const server of servers) await server.stop({ drainMs: 0 });
      for (const plane of planes) await plane.close();
    });

    async function setup(endpoints: Record<string, EndpointHandler>, options: { window?: number } = {}) {
      const plane = makePlane(options);
      planes.push(plane);
      const server = await plane.serve(endpoints);
      servers.push(server);
      return { plane, server };
    }

    test('carries an EngineRequest and its EngineOutputs intact, with the handler seeing requestId and endpoint', async () => {
      let seen: { payload: unknown; requestId: string; endpoint: string } | null = null;
      const { plane, server } = await setup({
        generate: async function* (payload, ctx) {
          seen = { payload, requestId: ctx.requestId, endpoint: ctx.endpoint };
          const request = payload as EngineRequest;
          for (const [i, tokenId] of request.promptTokenIds.entries()) {
            const last = i === request.promptTokenIds.length - 1;
            const output: EngineOutput = {
              requestId: request.requestId,
              tokenId: tokenId + 1,
              numCachedTokens: 0,
              ...(last ? { finishReason: 'length' as const } : {}),
            };
            yield output;
          }
        },
      });
      const request: EngineRequest = {
        requestId: asRequestId('req-1'),
        promptTokenIds: [10, 20, 30],
        sampling: { ...DEFAULT_SAMPLING, temperature: 0, seed: 7 },
        stopping: { maxTokens: 3, stopTokenIds: [2], ignoreEos: false },
      };
      const items = await collect(plane.call(server.address, 'generate', request, { requestId: 'req-1' }));
      assert.deepEqual(seen, { payload: request, requestId: 'req-1', endpoint: 'generate' });
      assert.deepEqual(items, [
        { requestId: 'req-1', tokenId: 11, numCachedTokens: 0 },
        { requestId: 'req-1', tokenId: 21, numCachedTokens: 0 },
        { requestId: 'req-1', tokenId: 31, numCachedTokens: 0, finishReason: 'length' },
      ]);
    });

    test('100 concurrent streams each get exactly their own items, in order', async () => {
      const { plane, server } = await setup({
        tagged: async function* (payload) {
          const { stream, n } = payload as { stream: number; n: number };
          for (let i = 0; i < n; i++) {
            if ((i + stream) % 3 === 0) await new Promise((r) => setImmediate(r));
            yield { stream, i };
          }
        },
      });
      const n = 50;
      const results = await Promise.all(
        Array.from({ length: 100 }, (_, stream) =>
          collect(plane.call(server.address, 'tagged', { stream, n })),
        ),
      );
      results.forEach((items, stream) => {
        assert.deepEqual(
          items,
          Array.from({ length: n }, (_, i) => ({ stream, i })),
        );
      });
      assert.equal(server.activeStreams, 0);
    });

    test('a handler error (thrown mid-stream or up front) → RemoteError after the items already sent', async () => {
      const { plane, server } = await setup({
        failing: async function* () {
          yield 'a';
          yield 'b';
          throw new Error('KV cache exhausted');
        },
        // Throws before returning an iterable (e.g. validating the payload up front).
        coded: () => {
          throw Object.assign(new Error('prompt longer than the context'), { code: 'invalid_request' });
        },
      });
      const { items, error } = await collectUntilError(plane.call(server.address, 'failing', null));
      assert.deepEqual(items, ['a', 'b']);
      assert.ok(error instanceof RemoteError);
      assert.equal(error.code, 'handler_error');
      assert.equal(error.remoteMessage, 'KV cache exhausted');
      assert.match(error.message, /KV cache exhausted/);

      const coded = await collectUntilError(plane.call(server.address, 'coded', null));
      assert.ok(coded.error instanceof RemoteError);
      assert.equal(coded.error.code, 'invalid_request');
    });

    test('an unknown endpoint is a RemoteError naming the endpoints served', async () => {
      const { plane, server } = await setup({ generate: async function* () {} });
      const { error } = await collectUntilError(plane.call(server.address, 'nope', null));
      assert.ok(error instanceof RemoteError);
      assert.equal(error.code, 'unknown_endpoint');
      assert.match(error.remoteMessage, /generate/);
    });

    test('breaking out of the loop cancels the handler: its signal aborts and it stops producing', async () => {
      const ticker = endlessTicker(1);
      const { plane, server } = await setup({ ticks: ticker.handler });
      for await (const item of plane.call(server.address, 'ticks', null)) {
        if (item === 3) break;
      }
      await waitFor(() => ticker.state.aborted && ticker.state.finallyRan, 'the handler to see the cancel');
      const produced = ticker.state.produced;
      await sleep(30);
      assert.equal(ticker.state.produced, produced, 'the handler kept producing after the cancel');
      await waitFor(() => server.activeStreams === 0, 'the stream to leave the server');
    });

    test('aborting the signal cancels a handler blocked on work and throws the abort reason', async () => {
      let handlerAborted = false;
      const { plane, server } = await setup({
        blocked: async function* (_payload, ctx) {
          yield 'started';
          await untilAborted(ctx);
          handlerAborted = true;
        },
      });
      const controller = new AbortController();
      const reason = new Error('client went away');
      const { items, error } = await collectUntilError(
        (async function* () {
          for await (const item of plane.call(server.address, 'blocked', null, {
            signal: controller.signal,
          })) {
            yield item;
            controller.abort(reason);
          }
        })(),
      );
      assert.deepEqual(items, ['started']);
      assert.equal(error, reason);
      await waitFor(() => handlerAborted, 'the handler signal to abort');
    });

    test('an already-aborted signal fails the call before anything is sent', async () => {
      let calls = 0;
      const { plane, server } = await setup({
        generate: async function* () {
          calls++;
          yield 1;
        },
      });
      const controller = new AbortController();
      controller.abort(new Error('too late'));
      const { error } = await collectUntilError(
        plane.call(server.address, 'generate', null, { signal: controller.signal }),
      );
      assert.match(String(error), /too late/);
      assert.equal(calls, 0);
    });

    test('no first response within timeoutMs → RequestTimeoutError (first), and the handler is cancelled', async () => {
      let handlerAborted = false;
      const { plane, server } = await setup({
        // biome-ignore lint/correctness/useYield: a handler that never produces is the point.
        stuck: async function* (_payload, ctx) {
          await untilAborted(ctx);
          handlerAborted = true;
        },
      });
      const { error } = await collectUntilError(plane.call(server.address, 'stuck', null, { timeoutMs: 40 }));
      assert.ok(error instanceof RequestTimeoutError);
      assert.equal(error.phase, 'first');
      assert.equal(error.timeoutMs, 40);
      await waitFor(() => handlerAborted, 'the handler signal to abort');
    });

    test('a stall between items → RequestTimeoutError (idle) after the items that came', async () => {
      const { plane, server } = await setup({
        stalls: async function* (_payload, ctx) {
          yield 1;
          yield 2;
          await untilAborted(ctx);
        },
      });
      const { items, error } = await collectUntilError(
        plane.call(server.address, 'stalls', null, { timeoutMs: 40, firstResponseTimeoutMs: 5000 }),
      );
      assert.deepEqual(items, [1, 2]);
      assert.ok(error instanceof RequestTimeoutError);
      assert.equal(error.phase, 'idle');
    });

    test('time the caller spends on an item does not count against timeoutMs', async () => {
      const { plane, server } = await setup({
        five: async function* () {
          for (let i = 0; i < 5; i++) {
            yield i;
            await sleep(2);
          }
        },
      });
      const items: unknown[] = [];
      for await (const item of plane.call(server.address, 'five', null, { timeoutMs: 30 })) {
        items.push(item);
        await sleep(80);
      }
      assert.deepEqual(items, [0, 1, 2, 3, 4]);
    });

    test('a slow consumer holds back a fast producer: produced − consumed never exceeds the window', async () => {
      const window = 8;
      let produced = 0;
      const { plane, server } = await setup(
        {
          firehose: async function* () {
            for (;;) yield produced++;
          },
        },
        { window },
      );
      let consumed = 0;
      let maxLead = 0;
      for await (const item of plane.call(server.address, 'firehose', null)) {
        assert.equal(item, consumed);
        consumed++;
        await sleep(consumed % 10 === 0 ? 20 : 0);
        maxLead = Math.max(maxLead, produced - consumed);
        if (consumed === 100) break;
      }
      assert.ok(maxLead <= window, `producer ran ${maxLead} items ahead (window ${window})`);
      await waitFor(() => server.activeStreams === 0, 'the stream to end');
      assert.ok(produced <= consumed + window);
    });

    test('a server that dies mid-stream → StreamDisconnectedError, not a hang or a normal end', async () => {
      const ticker = endlessTicker(2);
      const { plane, server } = await setup({ ticks: ticker.handler });
      const { items, error } = await collectUntilError(
        (async function* () {
          for await (const item of plane.call(server.address, 'ticks', null, { requestId: 'doomed' })) {
            yield item;
            if (item === 4) void server.stop({ drainMs: 0 });
          }
        })(),
      );
      assert.ok(error instanceof StreamDisconnectedError, `got ${String(error)}`);
      assert.equal(error.origin.requestId, 'doomed');
      assert.ok(items.length >= 5);
      assert.ok(error.itemsReceived >= items.length);
      assert.deepEqual(
        items,
        items.map((_, i) => i),
      );
    });

    test('graceful stop: in-flight streams finish, new calls are refused, then the address is dead', async () => {
      const { plane, server } = await setup({
        twenty: async function* () {
          for (let i = 0; i < 20; i++) {
            yield i;
            await sleep(2);
          }
        },
      });
      const items: unknown[] = [];
      let stopped: Promise<void> | null = null;
      for await (const item of plane.call(server.address, 'twenty', null)) {
        items.push(item);
        if (stopped === null) {
          stopped = server.stop({ drainMs: 10_000 });
          const refused = await collectUntilError(plane.call(server.address, 'twenty', null));
          assert.ok(refused.error instanceof RemoteError, `got ${String(refused.error)}`);
          assert.equal(refused.error.code, 'unavailable');
        }
      }
      assert.equal(items.length, 20);
      await stopped;
      const after = await collectUntilError(plane.call(server.address, 'twenty', null));
      assert.ok(after.error instanceof ConnectError, `got ${String(after.error)}`);
      assert.match(after.error.message, /Cannot reach worker at/);
    });

    test('streams still running at the drain deadline are cancelled and disconnected', async () => {
      const ticker = endlessTicker(2);
      const { plane, server } = await setup({ ticks: ticker.handler });
      const { error } = await collectUntilError(
        (async function* () {
          for await (const item of plane.call(server.address, 'ticks', null)) {
            yield item;
            if (item === 0) void server.stop({ drainMs: 30 });
          }
        })(),
      );
      assert.ok(error instanceof StreamDisconnectedError, `got ${String(error)}`);
      await waitFor(() => ticker.state.aborted, 'the handler signal to abort');
    });
  });
}
