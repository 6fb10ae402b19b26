/**
 * vLLM's KV events → ours:
 *   - the wire: recorded KVEventBatch frames (fixture) decode, array_like (vLLM <= 0.11) and map (later)
 *     layouts alike, u64 and bytes block hashes; the test kit's encoder reproduces the recorded bytes;
 *   - the translation: our hashes are the ones our router computes from the same tokens; BlockRemoved maps
 *     back through the table; what cannot be translated faithfully is skipped and counted;
 *   - the relay over real ZeroMQ sockets against a fake vLLM publisher: in-order batches, a dropped batch
 *     repaired from the replay socket, a batch the replay buffer lost → `cleared`;
 *   - a kv router fed the relayed events sends a prompt sharing a vLLM worker's cached prefix to it.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { freePort } from '../../infra/free-port.ts';
import type { WorkerId } from '../../protocols/ids.ts';
import { hashToWire, type KvCacheEvent } from '../../protocols/kv-events.ts';
import { createRouter } from '../../router/index.ts';
import { computeBlockHashes } from '../../tokens/block-hash.ts';
import { getLogger } from '../../util/logger.ts';
import {
  allBlocksCleared,
  blockRemoved,
  blockStored,
  eventBatch,
  FakeVllmPublisher,
  msgspecEncode,
  PyMap,
} from '../testing/vllm-publisher-kit.ts';
import { VllmKvRelay, zmqAddress } from './vllm-kv-relay.ts';
import { VllmKvTranslator } from './vllm-kv-translator.ts';
import { decodeVllmEventBatch, type VllmBlockStored, vllmHashKey } from './vllm-kv-wire.ts';

const BS = 4;
const log = getLogger('test');
const fixture = JSON.parse(readFileSync(join(import.meta.dirname, 'vllm-frames.fixture.json'), 'utf8')) as {
  frames: { name: string; hex: string }[];
};
const frame = (name: string): Buffer => Buffer.from(fixture.frames.find((f) => f.name === name)!.hex, 'hex');

const PREFIX = Array.from({ length: 8 }, (_, i) => 100 + i); // two blocks
const H1 = 0xfedcba9876543210n; // vLLM u64 hashes (above 2^63: must survive as unsigned)
const H2 = 0x0123456789abcdefn;
const H3 = 77n;

/** The frames recorded in vllm-frames.fixture.json, rebuilt from vLLM's struct definitions. */
const FRAMES: Record<string, () => Buffer> = {
  'stored-two-blocks': () => eventBatch(1733500000.25, [blockStored([H1, H2], null, PREFIX, BS)]),
  'stored-child-and-removed': () =>
    eventBatch(1733500000.5, [blockStored([H3], H2, [1, 2, 3, 4], BS), blockRemoved([H1])]),
  cleared: () => eventBatch(1.5, [allBlocksCleared]),
  'map-layout': () =>
    msgspecEncode(
      new PyMap([
        ['ts', 2.5],
        [
          'events',
          [
            new PyMap([
              ['type', 'BlockStored'],
              ['block_hashes', [new Uint8Array([0xab, 0xcd])]],
              ['parent_block_hash', null],
              ['token_ids', [5n, 6n, 7n, 8n]],
              ['block_size', BigInt(BS)],
              ['lora_id', null],
              ['medium', 'GPU'],
              ['lora_name', null],
            ]),
          ],
        ],
        ['data_parallel_rank', 1n],
      ]),
    ),
};

describe('vLLM KV event wire format', () => {
  it("the kit's msgspec encoder reproduces every recorded frame byte for byte", () => {
    for (const [name, build] of Object.entries(FRAMES))
      assert.equal(build().toString('hex'), frame(name).toString('hex'), name);
  });

  it('decodes a hand-assembled frame: KVEventBatch(ts=1.5, events=[AllBlocksCleared()], data_parallel_rank=0)', () => {
    // fixarray(3), float64 1.5, fixarray(1) [fixarray(1) [fixstr(16) "AllBlocksCleared"]], positive fixint 0
    const hex = `93cb3ff8000000000000 9191b0${Buffer.from('AllBlocksCleared').toString('hex')} 00`.replaceAll(
      ' ',
      '',
    );
    assert.equal(frame('cleared').toString('hex'), hex);
    assert.deepEqual(decodeVllmEventBatch(Buffer.from(hex, 'hex')), {
      ts: 1.5,
      events: [{ type: 'AllBlocksCleared' }],
      dataParallelRank: 0,
    });
  });

  it('decodes BlockStored / BlockRemoved, u64 hashes above 2^63 intact, and the map layout with bytes hashes', () => {
    const stored = decodeVllmEventBatch(frame('stored-two-blocks')).events[0] as VllmBlockStored;
    assert.deepEqual(stored.blockHashes, [H1, H2]);
    assert.equal(stored.parentBlockHash, null);
    assert.deepEqual(stored.tokenIds, PREFIX);
    assert.equal(stored.blockSize, BS);
    assert.equal(stored.medium, 'GPU');
    const [child, removed] = decodeVllmEventBatch(frame('stored-child-and-removed')).events;
    assert.equal((child as VllmBlockStored).parentBlockHash, H2);
    assert.deepEqual(removed, { type: 'BlockRemoved', blockHashes: [H1], medium: 'GPU', groupIdx: null });
    const map = decodeVllmEventBatch(frame('map-layout'));
    assert.equal(map.dataParallelRank, 1);
    assert.equal(vllmHashKey((map.events[0] as VllmBlockStored).blockHashes[0]!), '0xabcd');
  });
});

describe('VllmKvTranslator', () => {
  it('announces the hashes our router computes from the same tokens, and maps removals back', () => {
    const t = new VllmKvTranslator(BS);
    const [first, second] = decodeVllmEventBatch(frame('stored-child-and-removed')).events;
    assert.equal(t.translate(first!), null, 'parent H2 never seen: skipped');
    assert.equal(t.skipped['unknown-parent'], 1);

    const ours = computeBlockHashes([...PREFIX, 1, 2, 3, 4], BS).sequence.map(hashToWire);
    const stored = t.translate(decodeVllmEventBatch(frame('stored-two-blocks')).events[0]!);
    assert.deepEqual(
      stored && stored.type === 'stored' && stored.blocks.map((b) => b.blockHash),
      ours.slice(0, 2),
    );
    const child = t.translate(first!);
    assert.deepEqual(child, {
      type: 'stored',
      parentHash: ours[1],
      blocks: [
        {
          blockHash: ours[2],
          tokensHash: computeBlockHashes([1, 2, 3, 4], BS).local.map(hashToWire)[0],
          tokenIds: [1, 2, 3, 4],
        },
      ],
    });
    assert.deepEqual(t.translate(second!), { type: 'removed', blockHashes: [ours[0]] });
    assert.deepEqual(
      t.dump(7).map((e) => e.data.type === 'stored' && e.data.blocks[0]!.blockHash),
      [ours[1], ours[2]],
      'snapshot: what is left, parents first',
    );
    assert.deepEqual(t.translate({ type: 'AllBlocksCleared' }), { type: 'cleared' });
    assert.equal(t.size, 0);
  });

  it('skips what tokens alone do not identify: LoRA, extra keys, offload tiers, another block size', () => {
    const t = new VllmKvTranslator(BS);
    const base = decodeVllmEventBatch(frame('stored-two-blocks')).events[0] as VllmBlockStored;
    assert.equal(t.translate({ ...base, loraName: 'sql-adapter' }), null);
    assert.equal(t.translate({ ...base, extraKeys: [['mm-hash', 0], null] }), null);
    assert.equal(t.translate({ ...base, medium: 'CPU' }), null);
    assert.equal(t.translate({ ...base, blockSize: 16 }), null);
    assert.deepEqual(
      { ...t.skipped },
      { 'unknown-parent': 0, 'block-size': 1, lora: 1, 'extra-keys': 1, medium: 1, group: 0, malformed: 0 },
    );
    assert.equal(t.size, 0);
  });
});

describe('VllmKvRelay over ZeroMQ against a fake vLLM publisher', () => {
  const relays: VllmKvRelay[] = [];
  const publishers: FakeVllmPublisher[] = [];
  after(async () => {
    for (const r of relays) await r.stop();
    for (const p of publishers) await p.close();
  });

  async function setup(): Promise<{ pub: FakeVllmPublisher; relay: VllmKvRelay; got: KvCacheEvent[] }> {
    const [port, replayPort] = [await freePort(), await freePort()];
    const pub = new FakeVllmPublisher(`tcp://127.0.0.1:${port}`, `tcp://127.0.0.1:${replayPort}`);
    await pub.start();
    publishers.push(pub);
    const relay = new VllmKvRelay({
      endpoint: `zmq://127.0.0.1:${port}`,
      replayEndpoint: `zmq://127.0.0.1:${replayPort}`,
      blockSize: BS,
      log,
    });
    const got: KvCacheEvent[] = [];
    relay.events.subscribe((e) => got.push(e));
    relays.push(relay);
    await relay.start();
    return { pub, relay, got };
  }

  /** PUB drops messages until the subscription has propagated: publish a batch until one arrives. */
  async function publishUntilHeard(
    pub: FakeVllmPublisher,
    relay: VllmKvRelay,
    payload: Buffer,
  ): Promise<void> {
    for (let i = 0; i < 200 && relay.counts.batches === 0; i++) {
      await pub.publish(payload);
      await waitFor(() => relay.counts.batches > 0, 50).catch(() => undefined);
    }
  }

  it('relays in order, repairs a dropped batch from the replay socket, and clears on an unrepairable gap', async () => {
    const { pub, relay, got } = await setup();
    // Empty batches until connected; the first one heard is replayed-from-0 as needed (slow joiner).
    await publishUntilHeard(pub, relay, eventBatch(1, []));
    await pub.publish(frame('stored-two-blocks'));
    await pub.publish(frame('stored-child-and-removed'), { drop: true }); // lost on the way
    await pub.publish(eventBatch(3, [blockRemoved([H3])]));
    await waitFor(() => got.length >= 4);
    assert.deepEqual(
      got.map((e) => [e.eventId, e.data.type]),
      [
        [1, 'stored'],
        [2, 'stored'],
        [3, 'removed'],
        [4, 'removed'],
      ],
    );
    assert.ok(relay.counts.replayed >= 1, 'the dropped batch came from the replay socket');
    assert.equal(relay.translator.size, 1, 'H2 left');

    const lost = await pub.publish(eventBatch(4, [allBlocksCleared]), { drop: true });
    pub.trimBufferBefore(lost + 1n); // ... and vLLM's replay buffer no longer holds it
    await pub.publish(eventBatch(5, [blockStored([H1], null, PREFIX.slice(0, 4), BS)]));
    await waitFor(() => got.length >= 6);
    assert.deepEqual(
      got.slice(4).map((e) => e.data.type),
      ['cleared', 'stored'],
    );
    assert.equal(relay.counts.lost, 1);

    pub.restartSequence(); // vLLM restarted: seq 0 again, its cache empty
    await pub.publish(eventBatch(6, [blockStored([H2], null, [9, 9, 9, 9], BS)]));
    await waitFor(() => got.length >= 8);
    assert.deepEqual(
      got.slice(6).map((e) => e.data.type),
      ['cleared', 'stored'],
    );
    assert.equal(relay.translator.size, 1, 'only the new engine’s block');
  });

  it('joining late: replays what vLLM still buffers, skips blocks whose parents it never saw, no cleared', async () => {
    const { pub, relay, got } = await setup();
    const root = PREFIX.slice(0, 4);
    await pub.publish(eventBatch(1, [blockStored([H1], null, root, BS)]), { drop: true }); // seq 0: before we came
    await pub.publish(eventBatch(2, [blockStored([H2], H1, PREFIX.slice(4), BS)]), { drop: true });
    await pub.publish(eventBatch(3, [blockStored([H3], null, [1, 2, 3, 4], BS)]), { drop: true });
    pub.trimBufferBefore(1n); // vLLM's buffer no longer holds seq 0
    await publishUntilHeard(pub, relay, eventBatch(4, []));
    await waitFor(() => got.length >= 1);
    assert.deepEqual(
      got.map((e) => e.data.type === 'stored' && e.data.blocks.map((b) => b.tokenIds)),
      [[[1, 2, 3, 4]]],
    );
    assert.equal(relay.translator.skipped['unknown-parent'], 1, 'H2 hangs under H1, which we never saw');
    assert.ok(relay.counts.replayed >= 2);
  });

  it('routes a prompt sharing a vLLM worker’s cached prefix to that worker (--router kv)', async () => {
    const a = await setup();
    const b = await setup();
    const router = await createRouter({ router: 'kv', seed: 1, decisionLog: 'off' });
    const [wa, wb] = ['vllm-a', 'vllm-b'] as WorkerId[];
    for (const workerId of [wa, wb]) router.addWorker({ workerId, blockSize: BS, totalBlocks: 64 });
    a.relay.events.subscribe((e) => router.applyKvEvent(wa, e));
    b.relay.events.subscribe((e) => router.applyKvEvent(wb, e));
    const other = Array.from({ length: 8 }, (_, i) => 900 + i);
    await publishUntilHeard(a.pub, a.relay, eventBatch(1, [blockStored([H1, H2], null, PREFIX, BS)]));
    await publishUntilHeard(b.pub, b.relay, eventBatch(1, [blockStored([H1, H2], null, other, BS)]));
    await waitFor(() => a.got.length >= 1 && b.got.length >= 1);

    const toA = router.route({ requestId: 'r1', tokenIds: [...PREFIX, 5, 6, 7] });
    assert.equal(toA.workerId, wa);
    assert.equal(toA.overlapBlocks, 2);
    const toB = router.route({ requestId: 'r2', tokenIds: [...other, 1, 2] });
    assert.equal(toB.workerId, wb);
    assert.equal(toB.overlapBlocks, 2);
  });
});

it('--kv-events takes zmq://HOST:PORT and names the fix otherwise', () => {
  assert.equal(zmqAddress('zmq://10.0.0.5:5557'), 'tcp://10.0.0.5:5557');
  assert.throws(() => zmqAddress('nats://x:1'), /expected zmq:\/\/HOST:PORT/);
});

async function waitFor(check: () => boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}
