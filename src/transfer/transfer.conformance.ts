/**
 * The one behaviour every `KvTransport` must have, run against each backend (transfer.conformance.test.ts),
 * through the agent that uses it: like one protocol test suite run against several NIC drivers.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import type { AgentMetadata } from './agent-metadata.ts';
import { TransferAgent } from './agent.ts';
import {
  BlockRangeError,
  LayoutMismatchError,
  PeerClosedError,
  TransferTimeoutError,
  UnknownAgentError,
  UnknownRegionError,
} from './errors.ts';
import { blockBytesPerTensor, type KvLayout } from './layout.ts';
import type { KvRegion } from './region.ts';
import { allocateRegion, blockOf, fillPattern, TINY_LAYOUT } from './test-regions.ts';
import type { KvTransport, TransferTarget } from './transport.ts';
import type { TransferHeader } from './wire.ts';

/** Two agents that know each other: `source` holds patterned blocks, `dest` zeros. */
interface Pair {
  source: TransferAgent;
  dest: TransferAgent;
  sourceRegion: KvRegion;
  destRegion: KvRegion;
}

function assertBlockCopied(
  from: KvRegion,
  fromBlock: number,
  to: KvRegion,
  toBlock: number,
  layers: number[],
) {
  for (const layer of layers)
    for (const kv of [0, 1] as const)
      assert.deepEqual(
        blockOf(to, layer, kv, toBlock),
        blockOf(from, layer, kv, fromBlock),
        `layer ${layer} ${kv ? 'V' : 'K'}: block ${fromBlock} → ${toBlock}`,
      );
}

function assertBlockZero(region: KvRegion, block: number) {
  for (let layer = 0; layer < region.layout.numLayers; layer++)
    for (const kv of [0, 1] as const)
      assert.ok(
        blockOf(region, layer, kv, block).every((x) => x === 0),
        `block ${block} layer ${layer} untouched`,
      );
}

export interface ConformanceOptions {
  /** Every agent stages all its blocks once its pair is set up (the shm backend's READ-from-mirror path). */
  stageAhead?: boolean;
}

export function runTransferConformance(
  name: string,
  createTransport: () => KvTransport,
  options: ConformanceOptions = {},
): void {
  describe(`KvTransport conformance: ${name}`, () => {
    const agents: TransferAgent[] = [];
    after(async () => {
      await Promise.all(agents.map((a) => a.close()));
    });

    async function agent(agentName: string, region: KvRegion): Promise<TransferAgent> {
      const a = new TransferAgent({ name: agentName, transports: [createTransport()], timeoutMs: 5_000 });
      agents.push(a);
      a.registerRegion(region);
      await a.start();
      return a;
    }

    async function pair(
      numBlocks = 16,
      layout: KvLayout = TINY_LAYOUT,
      destLayout: KvLayout = layout,
    ): Promise<Pair> {
      const sourceRegion = fillPattern(allocateRegion('kv', layout, numBlocks), 1);
      const destRegion = allocateRegion('kv', destLayout, numBlocks);
      const source = await agent(`src-${agents.length}`, sourceRegion);
      const dest = await agent(`dst-${agents.length}`, destRegion);
      source.addRemoteAgent(dest.metadata());
      dest.addRemoteAgent(source.metadata());
      if (options.stageAhead) {
        const all = Array.from({ length: numBlocks }, (_, i) => i);
        await Promise.all([source.stageBlocks('kv', all), dest.stageBlocks('kv', all)]);
      }
      return { source, dest, sourceRegion, destRegion };
    }

    it('READ copies the peer blocks named in the list into ours, layer by layer, K and V, in list order', async () => {
      const p = await pair();
      const result = await p.dest.read(p.source.name, {
        localRegion: 'kv',
        remoteRegion: 'kv',
        localBlockIds: [0, 1, 2, 9],
        remoteBlockIds: [5, 6, 7, 3],
      });
      assert.equal(result.bytes, 4 * 3 * 2 * blockBytesPerTensor(TINY_LAYOUT));
      for (const [to, from] of [
        [0, 5],
        [1, 6],
        [2, 7],
        [9, 3],
      ] as const)
        assertBlockCopied(p.sourceRegion, from, p.destRegion, to, [0, 1, 2]);
      for (const untouched of [3, 4, 8, 15]) assertBlockZero(p.destRegion, untouched);
    });

    it('WRITE copies our blocks into the peer blocks named in the list', async () => {
      const p = await pair();
      await p.source.write(p.dest.name, {
        localRegion: 'kv',
        remoteRegion: 'kv',
        localBlockIds: [2, 3],
        remoteBlockIds: [11, 4],
      });
      assertBlockCopied(p.sourceRegion, 2, p.destRegion, 11, [0, 1, 2]);
      assertBlockCopied(p.sourceRegion, 3, p.destRegion, 4, [0, 1, 2]);
      assertBlockZero(p.destRegion, 2);
    });

    it('a layer range moves only those layers (one pipeline stage)', async () => {
      const p = await pair();
      await p.dest.read(p.source.name, {
        localRegion: 'kv',
        remoteRegion: 'kv',
        layers: { start: 1, end: 2 },
        localBlockIds: [0],
        remoteBlockIds: [8],
      });
      assertBlockCopied(p.sourceRegion, 8, p.destRegion, 0, [1]);
      for (const layer of [0, 2]) assert.ok(blockOf(p.destRegion, layer, 0, 0).every((x) => x === 0));
    });

    it('many blocks in one descriptor list (scattered and contiguous runs) arrive intact', async () => {
      const n = 512;
      const p = await pair(n);
      const remote = Array.from({ length: n }, (_, i) => (i * 7) % n); // scattered: 7 is coprime to 512
      const local = Array.from({ length: n }, (_, i) => i); // contiguous: one run per layer tensor
      await p.dest.read(p.source.name, {
        localRegion: 'kv',
        remoteRegion: 'kv',
        localBlockIds: local,
        remoteBlockIds: remote,
      });
      for (let i = 0; i < n; i += 37)
        assertBlockCopied(p.sourceRegion, remote[i] as number, p.destRegion, i, [0, 1, 2]);
      assertBlockCopied(p.sourceRegion, remote[n - 1] as number, p.destRegion, n - 1, [0, 1, 2]);
    });

    it('concurrent transfers to one peer each land in their own blocks', async () => {
      const p = await pair(64);
      await Promise.all(
        Array.from({ length: 8 }, (_, t) =>
          p.dest.read(p.source.name, {
            localRegion: 'kv',
            remoteRegion: 'kv',
            localBlockIds: [t * 8, t * 8 + 1, t * 8 + 2],
            remoteBlockIds: [63 - t, 40 + t, t],
          }),
        ),
      );
      for (let t = 0; t < 8; t++) {
        assertBlockCopied(p.sourceRegion, 63 - t, p.destRegion, t * 8, [0, 1, 2]);
        assertBlockCopied(p.sourceRegion, 40 + t, p.destRegion, t * 8 + 1, [0, 1, 2]);
        assertBlockCopied(p.sourceRegion, t, p.destRegion, t * 8 + 2, [0, 1, 2]);
      }
    });

    it('out-of-range block ids are refused with BlockRangeError, by us and by the peer', async () => {
      const p = await pair();
      const desc = { localRegion: 'kv', remoteRegion: 'kv', localBlockIds: [0], remoteBlockIds: [16] };
      await assert.rejects(p.dest.read(p.source.name, desc), (err: Error) => {
        assert.ok(err instanceof BlockRangeError);
        assert.match(err.message, /block id 16 is outside peer "src-\d+"'s region "kv" \(blocks 0\.\.15\)/);
        return true;
      });
      await assert.rejects(
        p.dest.read(p.source.name, { ...desc, localBlockIds: [-1], remoteBlockIds: [0] }),
        BlockRangeError,
      );
      await assert.rejects(
        p.dest.read(p.source.name, { ...desc, localBlockIds: [0, 1] }),
        /differ in length/,
      );
      // Stale metadata claiming a bigger pool: the peer itself refuses, and the connection stays usable.
      const stale = p.source.metadata();
      p.dest.addRemoteAgent({ ...stale, regions: stale.regions.map((r) => ({ ...r, numBlocks: 1000 })) });
      await assert.rejects(p.dest.read(p.source.name, { ...desc, remoteBlockIds: [999] }), (err: Error) => {
        assert.ok(err instanceof BlockRangeError);
        assert.match(err.message, /refused the transfer: block id 999 is outside agent "src-\d+"'s region/);
        return true;
      });
      await p.dest.read(p.source.name, { ...desc, remoteBlockIds: [15] });
      assertBlockCopied(p.sourceRegion, 15, p.destRegion, 0, [0, 1, 2]);
    });

    it('an unknown region or agent is refused with UnknownRegionError / UnknownAgentError', async () => {
      const p = await pair();
      const desc = { localRegion: 'kv', remoteRegion: 'nope', localBlockIds: [0], remoteBlockIds: [0] };
      await assert.rejects(p.dest.read(p.source.name, desc), (err: Error) => {
        assert.ok(err instanceof UnknownRegionError);
        assert.match(err.message, /no registered memory region "nope" \(registered: kv\)/);
        return true;
      });
      await assert.rejects(
        p.dest.read(p.source.name, { ...desc, localRegion: 'x', remoteRegion: 'kv' }),
        UnknownRegionError,
      );
      await assert.rejects(p.dest.read('ghost', { ...desc, remoteRegion: 'kv' }), UnknownAgentError);
      // The peer deregistered the region after publishing: it refuses on its side.
      p.source.deregisterRegion('kv');
      await assert.rejects(p.dest.read(p.source.name, { ...desc, remoteRegion: 'kv' }), UnknownRegionError);
    });

    for (const [field, change] of [
      ['blockSize', { blockSize: 8 }],
      ['dtype', { dtype: 'bf16' }],
      ['numKvHeads', { numKvHeads: 4 }],
      ['headDim', { headDim: 16 }],
    ] as const) {
      it(`a layout mismatch in ${field} is refused, naming both layouts, and nothing is copied`, async () => {
        const destLayout = { ...TINY_LAYOUT, ...change } as KvLayout;
        const p = await pair(4, TINY_LAYOUT, destLayout.dtype === 'f32' ? destLayout : TINY_LAYOUT);
        const desc = { localRegion: 'kv', remoteRegion: 'kv', localBlockIds: [0], remoteBlockIds: [1] };
        if (destLayout.dtype !== 'f32') {
          // No bf16 tensors in this code base: a peer's metadata says bf16 (another engine, or a misconfigured one).
          const meta = p.source.metadata();
          p.dest.addRemoteAgent({
            ...meta,
            regions: meta.regions.map((r) => ({ ...r, layout: destLayout })),
          });
        }
        await assert.rejects(p.dest.read(p.source.name, desc), (err: Error) => {
          assert.ok(err instanceof LayoutMismatchError, String(err));
          assert.match(err.message, new RegExp(`${field} \\S+ vs \\S+`));
          assert.match(err.message, /our region "kv".*peer "src-\d+" region "kv"/);
          assert.equal((err.message.match(/layers × K\/V/g) ?? []).length, 2, 'both layouts described');
          return true;
        });
        assertBlockZero(p.destRegion, 0);
      });
    }

    it('a stale layout in the metadata is caught by the peer too (it re-checks the layout we send)', async () => {
      const p = await pair(4, TINY_LAYOUT, { ...TINY_LAYOUT, headDim: 16 });
      const meta = p.source.metadata();
      p.dest.addRemoteAgent({
        ...meta,
        regions: meta.regions.map((r) => ({ ...r, layout: { ...TINY_LAYOUT, headDim: 16 } })),
      });
      await assert.rejects(
        p.dest.read(p.source.name, {
          localRegion: 'kv',
          remoteRegion: 'kv',
          localBlockIds: [0],
          remoteBlockIds: [1],
        }),
        (err: Error) =>
          err instanceof LayoutMismatchError &&
          /refused the transfer: KV layouts differ \(headDim 8 vs 16\)/.test(err.message),
      );
    });

    it('notifications are delivered once: after a READ, after a WRITE, and on their own', async () => {
      const p = await pair();
      const seen: string[] = [];
      p.source.onNotif((n) => seen.push(`${n.from}:${n.message}`));
      await p.dest.read(p.source.name, {
        localRegion: 'kv',
        remoteRegion: 'kv',
        localBlockIds: [0],
        remoteBlockIds: [1],
        notif: 'r1:read',
      });
      await p.dest.sendNotif(p.source.name, 'r1:release');
      await p.dest.write(p.source.name, {
        localRegion: 'kv',
        remoteRegion: 'kv',
        localBlockIds: [0],
        remoteBlockIds: [2],
        notif: 'r2:written',
      });
      await waitUntil(() => seen.length >= 3);
      assert.deepEqual(seen, [
        `${p.dest.name}:r1:read`,
        `${p.dest.name}:r1:release`,
        `${p.dest.name}:r2:written`,
      ]);
      assert.deepEqual(
        p.source.getNotifs().map((n) => n.message),
        ['r1:read', 'r1:release', 'r2:written'],
      );
      assert.deepEqual(p.source.getNotifs(), [], 'drained: each notification is returned once');
      assert.deepEqual(p.dest.getNotifs(), [], 'the initiator gets none');
    });

    it('a peer that closes during a transfer fails it with PeerClosedError, not a hang', async () => {
      const initiator = createTransport();
      const server = createTransport();
      const region = fillPattern(allocateRegion('kv', TINY_LAYOUT, 1024), 2);
      const listener = await server.listen(closingTarget(region, () => listener.close()));
      const local = allocateRegion('kv', TINY_LAYOUT, 1024);
      const views = fullViews(local);
      await assert.rejects(
        initiator.transfer(listener.address, readAll(TINY_LAYOUT, 1024), views, 5_000),
        PeerClosedError,
      );
      await initiator.close();
      await server.close();
    });

    it('a peer that never answers fails the transfer with TransferTimeoutError after the timeout', async () => {
      const initiator = createTransport();
      const server = createTransport();
      const listener = await server.listen({
        prepare: () => new Promise<Uint8Array[]>(() => {}),
        notify() {},
      });
      const started = Date.now();
      const local = allocateRegion('kv', TINY_LAYOUT, 1);
      await assert.rejects(
        initiator.transfer(listener.address, readAll(TINY_LAYOUT, 1), fullViews(local), 200),
        (err: Error) =>
          err instanceof TransferTimeoutError && /did not finish within 200 ms/.test(err.message),
      );
      assert.ok(Date.now() - started < 3_000);
      await listener.close();
      await initiator.close();
      await server.close();
    });

    it('a peer that is gone (listener closed) fails at once with PeerClosedError', async () => {
      const p = await pair();
      const meta: AgentMetadata = p.source.metadata();
      await p.source.close();
      p.dest.addRemoteAgent(meta);
      await assert.rejects(
        p.dest.read(p.source.name, {
          localRegion: 'kv',
          remoteRegion: 'kv',
          localBlockIds: [0],
          remoteBlockIds: [0],
        }),
        PeerClosedError,
      );
    });
  });
}

function readAll(layout: KvLayout, numBlocks: number): TransferHeader {
  return {
    type: 'read',
    from: 'test',
    region: 'kv',
    layout,
    layers: { start: 0, end: layout.numLayers },
    blockIds: Array.from({ length: numBlocks }, (_, i) => i),
    bytes: numBlocks * layout.numLayers * 2 * blockBytesPerTensor(layout),
  };
}

function fullViews(region: KvRegion): Uint8Array[] {
  return region.layers.flatMap(({ k, v }) =>
    [k, v].map((t) => new Uint8Array(t.buffer, t.byteOffset, t.byteLength)),
  );
}

/** A target that serves the whole region but closes its listener as the transfer starts. */
function closingTarget(region: KvRegion, close: () => Promise<void>): TransferTarget {
  return {
    prepare: () => {
      void close();
      return fullViews(region);
    },
    notify() {},
  };
}

async function waitUntil(condition: () => boolean, timeoutMs = 2_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}
