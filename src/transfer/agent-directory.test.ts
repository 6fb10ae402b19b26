import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { MemoryDiscovery, MemoryDiscoveryStore } from '../runtime/discovery/index.ts';
import { AgentDirectory, fetchAgentMetadata, publishAgentMetadata } from './agent-directory.ts';
import { agentMetadataKey } from './agent-metadata.ts';
import { TransferAgent } from './agent.ts';
import { AgentMetadataError, UnknownAgentError } from './errors.ts';
import { StreamTransport } from './stream-transport.ts';
import { allocateRegion, blockOf, fillPattern, TINY_LAYOUT } from './test-regions.ts';

async function waitUntil(condition: () => boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('agent metadata in discovery (memory backend)', () => {
  const cleanups: (() => Promise<void>)[] = [];
  after(async () => {
    for (const c of cleanups.reverse()) await c();
  });

  it('publishes under /dynamo/v1/nixl_metadata/{ns}/{agent} with the lease; peers follow it and transfer', async () => {
    const store = new MemoryDiscoveryStore();
    const prefillDiscovery = new MemoryDiscovery(store);
    const decodeDiscovery = new MemoryDiscovery(store);
    const prefill = new TransferAgent({
      name: prefillDiscovery.leaseId(),
      transports: [new StreamTransport('tcp')],
    });
    const decode = new TransferAgent({
      name: decodeDiscovery.leaseId(),
      transports: [new StreamTransport('tcp')],
    });
    cleanups.push(
      () => prefill.close(),
      () => decode.close(),
      () => decodeDiscovery.close(),
    );
    const source = fillPattern(allocateRegion('kv', TINY_LAYOUT, 8), 3);
    prefill.registerRegion(source);
    decode.registerRegion(allocateRegion('kv', TINY_LAYOUT, 8));

    const key = await publishAgentMetadata(prefillDiscovery, 'dynamo', await prefill.start());
    assert.equal(key, `/dynamo/v1/nixl_metadata/dynamo/${prefill.name}`);
    await publishAgentMetadata(decodeDiscovery, 'dynamo', await decode.start());
    assert.deepEqual(await fetchAgentMetadata(decodeDiscovery, 'dynamo', prefill.name), prefill.metadata());

    const directory = await AgentDirectory.follow(decodeDiscovery, 'dynamo', decode);
    cleanups.push(() => directory.close());
    assert.ok(
      decode.knowsAgent(prefill.name),
      'an agent published before the watch is in the initial snapshot',
    );
    assert.ok(!decode.knowsAgent(decode.name), 'an agent never lists itself as a peer');

    await decode.read(prefill.name, {
      localRegion: 'kv',
      remoteRegion: 'kv',
      localBlockIds: [0],
      remoteBlockIds: [5],
    });

    // The prefill worker's lease ends (graceful close here; expiry after kill -9 on etcd): its key goes,
    // and the decode agent stops dialing it.
    await prefillDiscovery.close();
    await waitUntil(() => !decode.knowsAgent(prefill.name));
    await assert.rejects(
      decode.read(prefill.name, {
        localRegion: 'kv',
        remoteRegion: 'kv',
        localBlockIds: [0],
        remoteBlockIds: [5],
      }),
      (err: Error) =>
        err instanceof UnknownAgentError &&
        err.message.includes('etcdctl get --prefix /dynamo/v1/nixl_metadata'),
    );
    assert.equal(await fetchAgentMetadata(decodeDiscovery, 'dynamo', prefill.name), undefined);
  });

  it('copies what the peer holds: the read block equals the source block', async () => {
    const store = new MemoryDiscoveryStore();
    const a = new MemoryDiscovery(store);
    const b = new MemoryDiscovery(store);
    const src = new TransferAgent({ name: 'a', transports: [new StreamTransport('unix')] });
    const dst = new TransferAgent({ name: 'b', transports: [new StreamTransport('unix')] });
    cleanups.push(
      () => src.close(),
      () => dst.close(),
      () => a.close(),
      () => b.close(),
    );
    const source = fillPattern(allocateRegion('kv', TINY_LAYOUT, 4), 9);
    const dest = allocateRegion('kv', TINY_LAYOUT, 4);
    src.registerRegion(source);
    dst.registerRegion(dest);
    await publishAgentMetadata(a, 'ns1', await src.start());
    await dst.start();
    const directory = await AgentDirectory.follow(b, 'ns1', dst);
    cleanups.push(() => directory.close());
    await dst.read('a', { localRegion: 'kv', remoteRegion: 'kv', localBlockIds: [3], remoteBlockIds: [1] });
    assert.deepEqual(blockOf(dest, 2, 1, 3), blockOf(source, 2, 1, 1));
  });

  it('skips an invalid record and reports it; fetch throws AgentMetadataError naming the key', async () => {
    const store = new MemoryDiscoveryStore();
    const writer = new MemoryDiscovery(store);
    const reader = new MemoryDiscovery(store);
    cleanups.push(
      () => writer.close(),
      () => reader.close(),
    );
    await writer.put(agentMetadataKey('dynamo', 'broken'), {
      name: 'broken',
      host: 'h',
      pid: 1,
      endpoints: 'tcp',
      regions: [],
    });
    const agent = new TransferAgent({ name: 'me', transports: [new StreamTransport('tcp')] });
    const problems: Error[] = [];
    const directory = await AgentDirectory.follow(reader, 'dynamo', agent, {
      onInvalid: (e) => problems.push(e),
    });
    cleanups.push(() => directory.close());
    assert.equal(problems.length, 1);
    assert.ok(problems[0] instanceof AgentMetadataError);
    assert.ok(!agent.knowsAgent('broken'));
    await assert.rejects(
      fetchAgentMetadata(reader, 'dynamo', 'broken'),
      /nixl_metadata\/dynamo\/broken is invalid: endpoints and regions must be arrays/,
    );
  });
});
