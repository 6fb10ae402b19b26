/**
 * The cluster-secret handshake on KV data connections: agents holding the same secret move blocks as
 * before (TCP and Unix socket); an agent with another secret, or none, gets no byte of the target's blocks
 * and cannot write into them.
 */
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, describe, it } from 'node:test';
import { ClusterSecret } from '../util/cluster-secret.ts';
import { TransferAgent } from './agent.ts';
import { TransferError } from './errors.ts';
import { parseStreamAddress } from './stream-address.ts';
import { StreamTransport } from './stream-transport.ts';
import { allocateRegion, blockOf, fillPattern, TINY_LAYOUT } from './test-regions.ts';

const secret = ClusterSecret.fromBytes('s'.repeat(32));
const other = ClusterSecret.fromBytes('t'.repeat(32));

describe('cluster secret on data connections', () => {
  const agents: TransferAgent[] = [];
  after(async () => {
    await Promise.all(agents.map((a) => a.close()));
  });

  async function started(name: string, kind: 'tcp' | 'unix', clusterSecret?: ClusterSecret, seed = 1) {
    const agent = new TransferAgent({ name, transports: [new StreamTransport(kind, { clusterSecret })] });
    agents.push(agent);
    const region = fillPattern(allocateRegion('kv', TINY_LAYOUT, 8), seed);
    agent.registerRegion(region);
    await agent.start();
    return { agent, region };
  }

  const desc = { localRegion: 'kv', remoteRegion: 'kv', localBlockIds: [0, 1], remoteBlockIds: [2, 3] };

  for (const kind of ['tcp', 'unix'] as const) {
    it(`${kind}: the same secret moves blocks both ways`, async () => {
      const owner = await started(`${kind}-owner`, kind, secret, 7);
      const reader = await started(`${kind}-reader`, kind, secret, 1);
      reader.agent.addRemoteAgent(owner.agent.metadata());
      await reader.agent.read(`${kind}-owner`, desc);
      assert.deepEqual(blockOf(reader.region, 0, 0, 0), blockOf(owner.region, 0, 0, 2));
      await reader.agent.write(`${kind}-owner`, { ...desc, remoteBlockIds: [5, 6] });
      assert.deepEqual(blockOf(owner.region, 1, 1, 5), blockOf(reader.region, 1, 1, 0));
    });

    it(`${kind}: another secret or none reads nothing and writes nothing`, async () => {
      const owner = await started(`${kind}-guarded`, kind, secret, 7);
      const before = Float32Array.from(blockOf(owner.region, 0, 0, 2));
      for (const [name, key] of [
        [`${kind}-wrong`, other],
        [`${kind}-none`, undefined],
      ] as const) {
        const intruder = await started(name, kind, key, 3);
        intruder.agent.addRemoteAgent(owner.agent.metadata());
        const untouched = Float32Array.from(blockOf(intruder.region, 0, 0, 0));
        await assert.rejects(
          intruder.agent.read(`${kind}-guarded`, { ...desc, timeoutMs: 2000 }),
          (err) => err instanceof TransferError,
        );
        assert.deepEqual(blockOf(intruder.region, 0, 0, 0), untouched, 'no byte of the owner arrived');
        await assert.rejects(
          intruder.agent.write(`${kind}-guarded`, { ...desc, timeoutMs: 2000 }),
          (err) => err instanceof TransferError,
        );
        assert.deepEqual(blockOf(owner.region, 0, 0, 2), before, 'the owner blocks are unchanged');
      }
    });
  }

  it('a raw socket gets the 40-byte challenge and nothing else', async () => {
    const owner = await started('raw-owner', 'tcp', secret);
    const endpoint = owner.agent.metadata().endpoints.find((e) => e.kind === 'tcp');
    const target = parseStreamAddress(endpoint?.address ?? '');
    assert.equal(target.kind, 'tcp');
    const socket = connect(target.kind === 'tcp' ? { host: target.host, port: target.port } : { path: '' });
    const header = Buffer.from(JSON.stringify({ type: 'read', from: 'x', region: 'kv', blockIds: [0] }));
    const frame = Buffer.alloc(4 + header.length);
    frame.writeUInt32LE(header.length, 0);
    header.copy(frame, 4);
    socket.write(Buffer.concat([frame, Buffer.alloc(64)]));
    const received: Buffer[] = [];
    socket.on('data', (c: Buffer) => received.push(c));
    await new Promise((resolve) => socket.on('close', resolve));
    assert.equal(Buffer.concat(received).length, 40);
  });
});
