import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, describe, it } from 'node:test';
import { TransferAgent } from './agent.ts';
import { blockBytes } from './layout.ts';
import type { KvRegion } from './region.ts';
import { ShmTransport } from './shm-transport.ts';
import { StreamTransport } from './stream-transport.ts';
import { allocateRegion, blockOf, fillPattern, TINY_LAYOUT } from './test-regions.ts';

describe('ShmTransport (staging, routing, counters)', () => {
  const agents: TransferAgent[] = [];
  after(async () => {
    await Promise.all(agents.map((a) => a.close()));
  });

  async function started(
    name: string,
    seed: number,
  ): Promise<{ agent: TransferAgent; region: KvRegion; shm: ShmTransport }> {
    const shm = new ShmTransport();
    const agent = new TransferAgent({ name, transports: [new StreamTransport('unix'), shm] });
    agents.push(agent);
    const region = fillPattern(allocateRegion('kv', TINY_LAYOUT, 16), seed);
    agent.registerRegion(region);
    await agent.start();
    return { agent, region, shm };
  }

  const sameBlock = (a: KvRegion, ab: number, b: KvRegion, bb: number) => {
    for (let layer = 0; layer < TINY_LAYOUT.numLayers; layer++)
      for (const kv of [0, 1] as const)
        assert.deepEqual(blockOf(a, layer, kv, ab), blockOf(b, layer, kv, bb));
  };

  it('same-host peers prefer shm; staged blocks are served from the mirror, rewritten ones staged again', async () => {
    const reader = await started('shm-r', 1);
    const owner = await started('shm-o', 2);
    reader.agent.addRemoteAgent(owner.agent.metadata());
    const per = blockBytes(TINY_LAYOUT);

    await owner.agent.stageBlocks('kv', [4, 5, 6, 7]);
    assert.equal(owner.agent.counters().stagedAheadBytes, 4 * per);
    const first = await reader.agent.read('shm-o', {
      localRegion: 'kv',
      remoteRegion: 'kv',
      localBlockIds: [0, 1, 2, 3],
      remoteBlockIds: [7, 4, 5, 6], // scattered order: the mirror is addressed per block
    });
    assert.equal(first.transport, 'shm');
    for (const [to, from] of [7, 4, 5, 6].entries()) sameBlock(owner.region, from, reader.region, to);
    assert.equal(
      owner.agent.counters().stagedOnReadBytes,
      0,
      'served from the mirror, not staged on the path',
    );
    assert.equal(reader.agent.counters().userCopiedBytes, 0, 'preadv lands straight in the KV blocks');

    // A WRITE rewrites owner blocks 4 and 5: the mirror's copies of them are dropped, so the next READ of
    // them is staged for it and returns the new bytes.
    await reader.agent.write('shm-o', {
      localRegion: 'kv',
      remoteRegion: 'kv',
      localBlockIds: [8, 9],
      remoteBlockIds: [4, 5],
    });
    await reader.agent.read('shm-o', {
      localRegion: 'kv',
      remoteRegion: 'kv',
      localBlockIds: [12, 13, 14],
      remoteBlockIds: [4, 5, 6],
    });
    sameBlock(reader.region, 8, reader.region, 12);
    sameBlock(reader.region, 9, reader.region, 13);
    sameBlock(owner.region, 6, reader.region, 14);
    assert.equal(owner.agent.counters().stagedOnReadBytes, 3 * per);
  });

  it('the owner unstages a block before rewriting it in place; the mirror directory goes with the listener', async () => {
    const reader = await started('shm-r2', 3);
    const owner = await started('shm-o2', 4);
    reader.agent.addRemoteAgent(owner.agent.metadata());
    await owner.agent.stageBlocks('kv', [1]);
    owner.agent.unstageBlocks('kv', [1]);
    blockOf(owner.region, 0, 0, 1).fill(42); // the engine reuses block 1
    await reader.agent.read('shm-o2', {
      localRegion: 'kv',
      remoteRegion: 'kv',
      localBlockIds: [0],
      remoteBlockIds: [1],
    });
    assert.ok(blockOf(reader.region, 0, 0, 0).every((x) => x === 42));
    const endpoint = owner.agent.metadata().endpoints.find((e) => e.kind === 'shm');
    assert.ok(endpoint);
    const dir = endpoint.address.slice('shm://'.length);
    assert.ok(existsSync(dir));
    await owner.agent.close();
    assert.equal(existsSync(dir), false, 'the listener removes its mirrors and socket');
  });

  it("a READ waits for its blocks' staging in flight; an unstage during a staging keeps the block out", async () => {
    const reader = await started('shm-r3', 5);
    const owner = await started('shm-o3', 6);
    reader.agent.addRemoteAgent(owner.agent.metadata());
    const staging = owner.agent.stageBlocks('kv', [2, 3]); // not awaited: the hold's params went out already
    await reader.agent.read('shm-o3', {
      localRegion: 'kv',
      remoteRegion: 'kv',
      localBlockIds: [0, 1],
      remoteBlockIds: [2, 3],
    });
    await staging;
    sameBlock(owner.region, 2, reader.region, 0);
    sameBlock(owner.region, 3, reader.region, 1);
    assert.equal(owner.agent.counters().stagedOnReadBytes, 0, 'served from the mirror once staged');

    const { shm } = owner;
    const second = owner.agent.stageBlocks('kv', [9]);
    owner.agent.unstageBlocks('kv', [2, 3, 9]); // released while block 9 is still being copied
    await second;
    assert.equal(shm.stagedBlocks, 0, 'block 9 was let go during its staging: not served from the mirror');
    blockOf(owner.region, 1, 1, 9).fill(7); // the engine reuses block 9
    await reader.agent.read('shm-o3', {
      localRegion: 'kv',
      remoteRegion: 'kv',
      localBlockIds: [4],
      remoteBlockIds: [9],
    });
    assert.ok(blockOf(reader.region, 1, 1, 4).every((x) => x === 7));
  });
});
