import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { TransferAgent } from './agent.ts';
import { TransferError } from './errors.ts';
import { MemoryTransport } from './memory-transport.ts';
import { StreamTransport } from './stream-transport.ts';
import { allocateRegion, fillPattern, TINY_LAYOUT } from './test-regions.ts';
import type { KvTransport } from './transport.ts';

describe('TransferAgent', () => {
  const agents: TransferAgent[] = [];
  after(async () => {
    await Promise.all(agents.map((a) => a.close()));
  });

  async function started(name: string, transports: KvTransport[], host?: string) {
    const agent = new TransferAgent({ name, transports, ...(host ? { host } : {}) });
    agents.push(agent);
    agent.registerRegion(fillPattern(allocateRegion('kv', TINY_LAYOUT, 16), agents.length));
    await agent.start();
    return agent;
  }

  const desc = {
    localRegion: 'kv',
    remoteRegion: 'kv',
    localBlockIds: [0, 1, 2, 3],
    remoteBlockIds: [4, 5, 6, 7],
  };

  it('same-host peers use the Unix socket, other hosts TCP, one process the memory transport', async () => {
    const a = await started('a', [new StreamTransport('tcp'), new StreamTransport('unix')]);
    const b = await started('b', [new StreamTransport('tcp'), new StreamTransport('unix')]);
    const c = await started('c', [new StreamTransport('tcp'), new StreamTransport('unix')], 'other-host');
    const m1 = await started('m1', [new MemoryTransport(), new StreamTransport('tcp')]);
    const m2 = await started('m2', [new MemoryTransport(), new StreamTransport('tcp')]);
    a.addRemoteAgent(b.metadata());
    a.addRemoteAgent(c.metadata());
    m1.addRemoteAgent(m2.metadata());
    assert.equal((await a.read('b', desc)).transport, 'unix');
    assert.equal((await a.read('c', desc)).transport, 'tcp');
    assert.equal((await m1.read('m2', desc)).transport, 'memory');
    // A metadata record from another process of this host: memory addresses are meaningless there.
    m1.addRemoteAgent({ ...m2.metadata(), pid: process.pid + 1 });
    assert.equal((await m1.read('m2', desc)).transport, 'tcp');
  });

  it('no common transport is a clear error naming both sides', async () => {
    const a = await started('x', [new StreamTransport('unix')]);
    const b = await started('y', [new StreamTransport('unix')], 'far-away');
    a.addRemoteAgent(b.metadata());
    await assert.rejects(a.read('y', desc), (err: Error) => {
      assert.ok(err instanceof TransferError);
      assert.match(
        err.message,
        /No common transport with peer "y" on far-away: it offers unix, we have unix \(shm, unix and memory need the same host\)/,
      );
      return true;
    });
  });

  it('the memory transport counts both sides as TCP does: the target sent what a READ took', async () => {
    const reader = await started('mr', [new MemoryTransport()]);
    const owner = await started('mo', [new MemoryTransport()]);
    reader.addRemoteAgent(owner.metadata());
    const { bytes } = await reader.read('mo', desc);
    assert.equal(reader.counters().bytesReceived, bytes);
    assert.equal(owner.counters().bytesSent, bytes);
    await reader.write('mo', desc);
    assert.equal(reader.counters().bytesSent, bytes);
    assert.equal(owner.counters().bytesReceived, bytes);
  });

  it('counts copies: a TCP READ lands with zero user-space copies on both sides, a WRITE costs the target one', async () => {
    const reader = await started('r', [new StreamTransport('tcp')]);
    const owner = await started('o', [new StreamTransport('tcp')]);
    reader.addRemoteAgent(owner.metadata());
    const { bytes } = await reader.read('o', desc);
    const none = { stagedAheadBytes: 0, stagedOnReadBytes: 0 };
    assert.deepEqual(reader.counters(), { bytesSent: 0, bytesReceived: bytes, userCopiedBytes: 0, ...none });
    assert.deepEqual(owner.counters(), { bytesSent: bytes, bytesReceived: 0, userCopiedBytes: 0, ...none });
    await reader.write('o', desc);
    assert.equal(reader.counters().userCopiedBytes, 0, 'the initiator writev()s straight from its blocks');
    assert.equal(
      owner.counters().userCopiedBytes,
      bytes,
      'the target copies socket chunks into its blocks once',
    );
  });

  it('refuses a region whose tensors do not match its layout, naming the tensor', () => {
    const agent = new TransferAgent({ name: 'z', transports: [new MemoryTransport()] });
    const region = allocateRegion('kv', TINY_LAYOUT, 4);
    const broken = {
      ...region,
      layers: region.layers.map((l, i) => (i === 1 ? { ...l, v: new Float32Array(3) } : l)),
    };
    assert.throws(() => agent.registerRegion(broken), /region "kv" layer 1 V: 12 bytes, expected 1024/);
    assert.throws(
      () => agent.registerRegion({ ...region, layers: region.layers.slice(1) }),
      /layout says 3 layers, 2/,
    );
    agent.registerRegion(region);
    assert.throws(() => agent.registerRegion(region), /already registered/);
  });
});
