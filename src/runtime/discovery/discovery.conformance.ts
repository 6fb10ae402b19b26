/**
 * One behaviour, three backends: the shared test suite every Discovery implementation must pass (run by
 * discovery.conformance.test.ts against memory, file and a real etcd). Each test works under its own random
 * prefix, so backends can share one etcd / directory across tests.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, describe, test } from 'node:test';
import type { Discovery, DiscoveryBackend, DiscoveryEvent, KeyValue } from './discovery.ts';
import { LeaseLostError } from './errors.ts';

export interface ConformanceHarness {
  backend: DiscoveryBackend;
  /** A new client with its own lease, as if it were another process. */
  connect(opts?: { ttlSeconds?: number }): Promise<Discovery>;
  /** Make `client`'s lease vanish behind its back (what a server-side expiry or an operator's revoke does). */
  revokeExternally(client: Discovery): Promise<void>;
  /** How long a watch may take to report a change (polling backends need more). */
  eventWithinMs: number;
}

export async function waitFor(
  what: string,
  check: () => boolean | Promise<boolean>,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`timed out after ${timeoutMs} ms waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const freshPrefix = () => `/dhw-test/${randomBytes(4).toString('hex')}/`;

/** A mirror of a prefix kept by a watch: initial snapshot + events, as a frontend keeps one. */
async function mirrorOf(client: Discovery, prefix: string) {
  const state = new Map<string, unknown>();
  const events: DiscoveryEvent[] = [];
  const watch = await client.watch(prefix, (e) => {
    events.push(e);
    if (e.type === 'put') state.set(e.key, e.value);
    else state.delete(e.key);
  });
  for (const { key, value } of watch.initial) state.set(key, value);
  return { state, events, watch };
}

const asObject = (list: KeyValue[]) => Object.fromEntries(list.map((kv) => [kv.key, kv.value]));

export function runDiscoveryConformance(name: string, makeHarness: () => Promise<ConformanceHarness>): void {
  describe(`Discovery conformance: ${name}`, () => {
    let harness: ConformanceHarness;
    const clients: Discovery[] = [];
    const connect = async (opts?: { ttlSeconds?: number }) => {
      harness ??= await makeHarness();
      const client = await harness.connect(opts);
      clients.push(client);
      return client;
    };
    after(async () => {
      await Promise.all(clients.map((c) => c.close()));
    });

    test('put / get / list / delete round-trip JSON values, list is sorted and prefix-scoped', async () => {
      const a = await connect();
      const p = freshPrefix();
      const card = { displayName: 'm', limits: [1, 2, 3], nested: { ok: true }, nothing: null };
      await a.put(`${p}b`, card);
      await a.put(`${p}a`, 'text');
      await a.put(`${p}c/deeper`, 42);
      await a.put(`${p.slice(0, -1)}x`, 'outside: shares the prefix without its slash');
      assert.deepEqual(await a.get(`${p}b`), card);
      assert.deepEqual(await a.list(p), [
        { key: `${p}a`, value: 'text' },
        { key: `${p}b`, value: card },
        { key: `${p}c/deeper`, value: 42 },
      ]);
      await a.put(`${p}a`, 'replaced');
      assert.equal(await a.get(`${p}a`), 'replaced');
      await a.delete(`${p}a`);
      await a.delete(`${p}never-existed`);
      assert.equal(await a.get(`${p}a`), undefined);
      assert.deepEqual(Object.keys(asObject(await a.list(p))), [`${p}b`, `${p}c/deeper`]);
      assert.equal(a.backend, harness.backend);
    });

    test('each client has its own hex lease id and a live TTL', async () => {
      const a = await connect();
      const b = await connect();
      assert.match(a.leaseId(), /^[0-9a-f]{1,16}$/);
      assert.notEqual(a.leaseId(), b.leaseId());
      const left = await a.leaseTtlLeft();
      assert.ok(left > 0, `TTL left should be positive, got ${left}`);
    });

    test("another client's keys are visible; a watch sees them added, changed and removed", async () => {
      const watcher = await connect();
      const writer = await connect();
      const p = freshPrefix();
      await writer.put(`${p}existing`, 1);
      const { state, events, watch } = await mirrorOf(watcher, p);
      assert.deepEqual([...state.entries()], [[`${p}existing`, 1]]);
      await writer.put(`${p}new`, { v: 1 });
      await writer.put(`${p}new`, { v: 2 });
      await writer.delete(`${p}existing`);
      await waitFor(
        'the watch to catch up',
        () => !state.has(`${p}existing`) && (state.get(`${p}new`) as { v: number })?.v === 2,
        harness.eventWithinMs,
      );
      assert.deepEqual([...state.entries()], [[`${p}new`, { v: 2 }]]);
      // Per key, the last event is the latest state. (Polling backends may coalesce changes made between two
      // polls, and order events of different keys by key rather than by time: level- not edge-triggered.)
      const lastFor = (key: string) => events.filter((e) => e.key === key).at(-1);
      assert.deepEqual(lastFor(`${p}existing`), { type: 'delete', key: `${p}existing` });
      assert.deepEqual(lastFor(`${p}new`), { type: 'put', key: `${p}new`, value: { v: 2 } });
      assert.ok(events.every((e) => e.key.startsWith(p)));
      await watch.close();
      await writer.put(`${p}after-close`, 1);
      await new Promise((r) => setTimeout(r, harness.eventWithinMs / 4));
      assert.equal(state.has(`${p}after-close`), false, 'a closed watch must not deliver events');
    });

    test('no change is missed between the snapshot and the watch (writes racing the watch start)', async () => {
      const watcher = await connect();
      const writer = await connect();
      const p = freshPrefix();
      // The watch starts in the middle of a stream of writes (yielding to the event loop now and then, so
      // timers and I/O interleave with it on every backend).
      let mirror: Awaited<ReturnType<typeof mirrorOf>> | undefined;
      let mirrorStarted: Promise<void> | undefined;
      for (let i = 0; i < 120; i++) {
        if (i === 40) mirrorStarted = mirrorOf(watcher, p).then((m) => void (mirror = m));
        await writer.put(`${p}k${i % 25}`, i);
        if (i % 3 === 0) await writer.delete(`${p}k${(i + 7) % 25}`);
        if (i % 10 === 0) await new Promise((r) => setImmediate(r));
      }
      await mirrorStarted;
      assert.ok(mirror);
      const { state, watch } = mirror;
      const truth = asObject(await watcher.list(p));
      await waitFor(
        'the mirror to equal the store',
        () => JSON.stringify(Object.fromEntries([...state].sort())) === JSON.stringify(truth),
        harness.eventWithinMs,
      );
      await watch.close();
    });

    test('a handler that throws does not stop the watch', async () => {
      const watcher = await connect();
      const p = freshPrefix();
      const seen: string[] = [];
      const watch = await watcher.watch(p, (e) => {
        seen.push(e.key);
        if (e.key.endsWith('boom')) throw new Error('handler bug');
      });
      await watcher.put(`${p}boom`, 1);
      await waitFor('the first event', () => seen.length >= 1, harness.eventWithinMs);
      await watcher.put(`${p}after`, 2);
      await waitFor('the event after the throw', () => seen.includes(`${p}after`), harness.eventWithinMs);
      await watch.close();
    });

    test('close() revokes the lease: its keys are gone at once and watchers see the deletes', async () => {
      const watcher = await connect();
      const leaving = await harness.connect();
      const p = freshPrefix();
      await leaving.put(`${p}instance`, { up: true });
      await leaving.put(`${p}card`, { model: 'm' });
      await watcher.put(`${p}mine`, 'stays');
      const { state, watch } = await mirrorOf(watcher, p);
      assert.equal(state.size, 3);
      await leaving.close();
      assert.deepEqual(Object.keys(asObject(await watcher.list(p))), [`${p}mine`]);
      await waitFor('watch to see both deletes', () => state.size === 1, harness.eventWithinMs);
      await watch.close();
    });

    test('a lease revoked behind our back: onLeaseLost fires, keys vanish, put fails; renewLease makes it survivable', async () => {
      const observer = await connect();
      const victim = await connect({ ttlSeconds: 3 });
      const p = freshPrefix();
      await victim.put(`${p}instance`, 1);
      const lost = new Promise<Error>((resolve) => victim.onLeaseLost(resolve));
      await harness.revokeExternally(victim);
      const err = await Promise.race([
        lost,
        new Promise<never>((_, reject) =>
          setTimeout(() => reject(new Error('onLeaseLost did not fire in 4 s')), 4000),
        ),
      ]);
      assert.ok(err instanceof LeaseLostError);
      await waitFor(
        'the victim key to vanish',
        async () => (await observer.list(p)).length === 0,
        harness.eventWithinMs + 3000,
      );
      await assert.rejects(victim.put(`${p}again`, 2), LeaseLostError);
      const late = await new Promise<Error>((resolve) => victim.onLeaseLost(resolve));
      assert.equal(late, err, 'a callback registered after the loss gets the same error');

      // Survivable: a new lease, the same instance id, and puts (a re-registration) work again.
      const instanceId = victim.leaseId();
      await victim.renewLease();
      assert.equal(victim.leaseId(), instanceId, 'the instance id outlives the lease');
      assert.ok((await victim.leaseTtlLeft()) > 0);
      await victim.put(`${p}instance`, 3);
      assert.deepEqual(asObject(await observer.list(p)), { [`${p}instance`]: 3 });
      let lostAgain = false;
      victim.onLeaseLost(() => {
        lostAgain = true;
      });
      await victim.renewLease(); // held: a no-op
      await new Promise((r) => setTimeout(r, 50));
      assert.equal(lostAgain, false, 'the new lease is not reported lost');
      await victim.close();
      assert.deepEqual(await observer.list(p), [], 'close revokes the new lease with its keys');
    });
  });
}
