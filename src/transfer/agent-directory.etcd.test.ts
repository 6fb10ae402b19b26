/** Agent metadata through a real etcd: published under the worker's lease, gone when the lease is revoked. */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { EtcdDiscovery } from '../runtime/discovery/index.ts';
import { type EtcdServer, startEtcd } from '../infra/local-servers.ts';
import { AgentDirectory, publishAgentMetadata } from './agent-directory.ts';
import { TransferAgent } from './agent.ts';
import { UnknownAgentError } from './errors.ts';
import { StreamTransport } from './stream-transport.ts';
import { allocateRegion, blockOf, fillPattern, TINY_LAYOUT } from './test-regions.ts';

let etcd: EtcdServer;
before(async () => {
  etcd = await startEtcd();
});
after(async () => {
  await etcd.stop();
});

test('etcd: a prefill agent publishes, a decode agent follows and READs over TCP, the lease revoke removes it', async () => {
  const prefillDiscovery = await EtcdDiscovery.connect({ endpoints: [etcd.endpoint], ttlSeconds: 5 });
  const decodeDiscovery = await EtcdDiscovery.connect({ endpoints: [etcd.endpoint], ttlSeconds: 5 });
  const prefill = new TransferAgent({
    name: prefillDiscovery.leaseId(),
    transports: [new StreamTransport('tcp')],
  });
  const decode = new TransferAgent({
    name: decodeDiscovery.leaseId(),
    transports: [new StreamTransport('tcp')],
  });
  try {
    const source = fillPattern(allocateRegion('kv', TINY_LAYOUT, 8), 4);
    const dest = allocateRegion('kv', TINY_LAYOUT, 8);
    prefill.registerRegion(source);
    decode.registerRegion(dest);
    await publishAgentMetadata(prefillDiscovery, 'dynamo', await prefill.start());
    await decode.start();
    const directory = await AgentDirectory.follow(decodeDiscovery, 'dynamo', decode);
    const raw = await decodeDiscovery.get(`/dynamo/v1/nixl_metadata/dynamo/${prefill.name}`);
    assert.deepEqual(raw, prefill.metadata());

    await decode.read(prefill.name, {
      localRegion: 'kv',
      remoteRegion: 'kv',
      localBlockIds: [0, 1],
      remoteBlockIds: [6, 7],
      notif: 'req-1',
    });
    for (const layer of [0, 1, 2]) assert.deepEqual(blockOf(dest, layer, 0, 1), blockOf(source, layer, 0, 7));

    await prefillDiscovery.close(); // revokes the lease: etcd deletes the key, the watch reports it
    const deadline = Date.now() + 15_000; // a bound for a loaded box, not the expected latency
    while (decode.knowsAgent(prefill.name) && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 20));
    await assert.rejects(
      decode.read(prefill.name, {
        localRegion: 'kv',
        remoteRegion: 'kv',
        localBlockIds: [0],
        remoteBlockIds: [0],
      }),
      UnknownAgentError,
    );
    assert.deepEqual(prefill.getNotifs(), [{ from: decode.name, message: 'req-1' }]);
    await directory.close();
  } finally {
    await prefill.close();
    await decode.close();
    await decodeDiscovery.close();
    await prefillDiscovery.close();
  }
});
