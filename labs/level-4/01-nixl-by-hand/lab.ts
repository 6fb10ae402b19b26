/**
 * Lab 4.1: the transfer agent by hand (our NIXL). A second process owns a KV block pool shaped like
 * SmolLM2-135M's and publishes its agent metadata in a real etcd under its lease; this process finds it
 * through an AgentDirectory, READs 1, 16 and 256 blocks over TCP and over a Unix socket, checks every byte,
 * and times the same copies as an in-process memcpy. Then a notification (the "release your blocks" message
 * of disaggregated serving), a layout mismatch caught on each side, and the owner leaving discovery. Like
 * running `ib_read_bw` between two hosts before trusting the fabric with production traffic.
 *
 * @expect /Agent metadata at \/dynamo\/v1\/nixl_metadata\/lab41\/prefill-owner/
 * @expect /reader-tcp knows prefill-owner: true/
 * @expect /verified \d+ bytes over tcp: every float of every layer's K and V matches/
 * @expect /blocks\s+MiB\s+tcp ms\s+tcp GB\/s\s+unix ms\s+unix GB\/s\s+memcpy ms\s+memcpy GB\/s/
 * @expect /largest read \(\d+ blocks\): tcp [\d.]+ GB\/s, unix [\d.]+ GB\/s, memcpy [\d.]+ GB\/s/
 * @expect /owner received "release:lab-4-1" from reader-tcp/
 * @expect /initiator refused: LayoutMismatchError/
 * @expect /target refused: LayoutMismatchError/
 * @expect /after the owner left: UnknownAgentError/
 * @expect Lab complete.
 */
import { type EtcdServer, startEtcd } from '../../../src/infra/local-servers.ts';
import { EtcdDiscovery } from '../../../src/runtime/discovery/index.ts';
import {
  AgentDirectory,
  agentMetadataPrefix,
  describeLayout,
  type TransferAgent,
} from '../../../src/transfer/index.ts';
import { allocateRegion, fillPattern } from '../../../src/transfer/test-regions.ts';
import { Etcdctl } from '../../lib/etcdctl.ts';
import { banner, formatBytes, formatMs, isSmoke, note, printTable, runLab, step } from '../../lib/lab-kit.ts';
import { shorten } from '../../lib/log-capture.ts';
import {
  BYTES_PER_BLOCK,
  clearBlocks,
  LAYOUT,
  OWNER_NAMESPACE,
  OWNER_SEED,
  type OwnerProcess,
  readerAgent,
  readerRegion,
  startOwner,
  timeMemcpy,
  timeRead,
  transferIds,
  verifyBlocks,
} from './transfer-rig.ts';

const OWNER = 'prefill-owner';
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function until(check: () => boolean, timeoutMs = 10_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!check() && Date.now() < deadline) await sleep(20);
  return check();
}

const errorLine = (err: unknown) => `${(err as Error).name}: ${shorten((err as Error).message, 260)}`;

async function main(): Promise<void> {
  banner('4.1', 'The transfer agent by hand (our NIXL)');
  const smoke = isSmoke();
  const sizes = smoke ? [1, 16, 64] : [1, 16, 256];
  const repeats = smoke ? 2 : 5;
  const poolBlocks = Math.max(...sizes);
  let etcd: EtcdServer | undefined;
  let owner: OwnerProcess | undefined;
  let discovery: EtcdDiscovery | undefined;
  const agents: TransferAgent[] = [];
  const directories: AgentDirectory[] = [];
  try {
    step('Start a private etcd: the metadata store both processes agree on');
    etcd = await startEtcd();
    note(`etcd at ${etcd.endpoint}`);

    step(
      `Start the owner process: a ${poolBlocks}-block KV pool shaped like SmolLM2-135M's, filled with a pattern`,
    );
    note(`layout: ${describeLayout(LAYOUT)}: 30 layers × K,V × 16 tokens × 3 heads × 64 dims × 4 B`);
    note(
      `$ node --import tsx labs/level-4/01-nixl-by-hand/owner.ts --blocks ${poolBlocks} --etcd ${etcd.endpoint} &`,
    );
    owner = await startOwner(poolBlocks, etcd.endpoint);
    note(
      `owner pid ${owner.pid}: filled ${formatBytes(poolBlocks * BYTES_PER_BLOCK)} in ${formatMs(owner.fillMs)}, registered region "kv", listening on:`,
    );
    for (const e of owner.metadata.endpoints) note(`  ${e.kind.padEnd(4)} ${e.address}`);

    step('What the owner published: its agent metadata, in etcd, under its lease');
    const etcdctl = new Etcdctl(etcd.endpoint);
    etcdctl.run(['get', '--prefix', '--keys-only', agentMetadataPrefix(OWNER_NAMESPACE)]);
    const value = etcdctl.run(['get', '--print-value-only', owner.key as string], { quiet: true }).trim();
    note(`Agent metadata at ${owner.key} (lease ${owner.leaseId}):`);
    note(`  ${shorten(value, 400)}`);
    note(
      '= NIXL getLocalMD: where to dial (tcp, unix) and what may be read (region "kv", its layout and size)',
    );

    step('Two reader agents (the "decode side"): one dials only TCP, one only a Unix socket');
    const dest = readerRegion(poolBlocks);
    discovery = await EtcdDiscovery.connect({ endpoints: [etcd.endpoint] });
    for (const kind of ['tcp', 'unix'] as const) {
      const agent = readerAgent(`reader-${kind}`, kind, dest);
      agents.push(agent);
      directories.push(await AgentDirectory.follow(discovery, OWNER_NAMESPACE, agent));
    }
    const [tcp, unix] = agents as [TransferAgent, TransferAgent];
    note(
      'AgentDirectory.follow(discovery, "lab41", agent): the peer table mirrors etcd\'s nixl_metadata keys',
    );
    note(
      `reader-tcp knows ${OWNER}: ${tcp.knowsAgent(OWNER)}; reader-unix knows ${OWNER}: ${unix.knowsAgent(OWNER)}`,
    );

    step('READ one block over TCP and check every byte');
    const one = transferIds(1, poolBlocks);
    const first = await tcp.read(OWNER, { localRegion: 'kv', remoteRegion: 'kv', ...one });
    note(
      `read(owner's block ${one.remoteBlockIds[0]} → our block ${one.localBlockIds[0]}): ${first.bytes} bytes over ${first.transport} in ${formatMs(first.ms)}`,
    );
    const bad = verifyBlocks(dest, one.localBlockIds, one.remoteBlockIds);
    if (bad) throw new Error(`data corrupted: ${bad}`);
    note(
      `verified ${first.bytes} bytes over tcp: every float of every layer's K and V matches the owner's pattern`,
    );

    step(`READ ${sizes.join(', ')} blocks (scattered on the owner, contiguous here), TCP vs Unix vs memcpy`);
    note(`median of ${repeats} runs each; every read is verified byte for byte after it lands`);
    const memcpySource = fillPattern(allocateRegion('kv', LAYOUT, poolBlocks), OWNER_SEED);
    const rows: (string | number)[][] = [];
    let last = { tcp: 0, unix: 0, memcpy: 0 };
    for (const n of sizes) {
      const ids = transferIds(n, poolBlocks);
      const results = [];
      for (const agent of [tcp, unix]) {
        clearBlocks(dest, ids.localBlockIds);
        const t = await timeRead(agent, OWNER, ids, repeats);
        const mismatch = verifyBlocks(dest, ids.localBlockIds, ids.remoteBlockIds);
        if (mismatch) throw new Error(`${agent.name}: data corrupted: ${mismatch}`);
        results.push(t);
      }
      clearBlocks(dest, ids.localBlockIds);
      const mem = timeMemcpy(memcpySource, dest, ids, repeats);
      const mismatch = verifyBlocks(dest, ids.localBlockIds, ids.remoteBlockIds);
      if (mismatch) throw new Error(`memcpy: data corrupted: ${mismatch}`);
      const [t, u] = results as [typeof mem, typeof mem];
      rows.push([
        n,
        +(t.bytes / 2 ** 20).toFixed(1),
        +t.ms.toFixed(2),
        +t.gbPerSec.toFixed(2),
        +u.ms.toFixed(2),
        +u.gbPerSec.toFixed(2),
        +mem.ms.toFixed(2),
        +mem.gbPerSec.toFixed(2),
      ]);
      last = { tcp: t.gbPerSec, unix: u.gbPerSec, memcpy: mem.gbPerSec };
    }
    printTable(
      ['blocks', 'MiB', 'tcp ms', 'tcp GB/s', 'unix ms', 'unix GB/s', 'memcpy ms', 'memcpy GB/s'],
      rows,
    );
    note(
      `largest read (${poolBlocks} blocks): tcp ${last.tcp.toFixed(2)} GB/s, unix ${last.unix.toFixed(2)} GB/s, memcpy ${last.memcpy.toFixed(2)} GB/s`,
    );
    note(
      `memcpy is ${(last.memcpy / last.tcp).toFixed(1)}× TCP here: the kernel copies every byte twice (socket buffers) and the owner's`,
    );
    note(
      'event loop serves the READ. RDMA removes both; NVLink removes the network. The 1-block row is mostly latency.',
    );
    const prompt1k = Math.ceil(1000 / LAYOUT.blockSize) * BYTES_PER_BLOCK;
    note(
      `so a 1,000-token SmolLM2 prompt (${Math.ceil(1000 / LAYOUT.blockSize)} blocks, ${formatBytes(prompt1k)}) moves in about ${formatMs(prompt1k / last.tcp / 1e6)} over TCP here`,
    );

    step('A READ with a notification: how decode tells prefill "I have your blocks, free them"');
    await tcp.read(OWNER, {
      localRegion: 'kv',
      remoteRegion: 'kv',
      ...transferIds(4, poolBlocks),
      notif: 'release:lab-4-1',
    });
    const notifs = await owner.waitForNotif(1);
    for (const n of notifs)
      note(`owner received "${n.message}" from ${n.from} (after the payload arrived; it answers nothing)`);

    step("Layout mismatch: a reader whose blocks hold 32 tokens asks for the owner's 16-token blocks");
    const bs32 = allocateRegion('kv-bs32', { ...LAYOUT, blockSize: 32 }, 4);
    tcp.registerRegion(bs32);
    try {
      await tcp.read(OWNER, {
        localRegion: 'kv-bs32',
        remoteRegion: 'kv',
        localBlockIds: [0],
        remoteBlockIds: [0],
      });
      throw new Error('the read of a mismatched layout succeeded: it must be refused');
    } catch (err) {
      if ((err as Error).name !== 'LayoutMismatchError') throw err;
      note(`initiator refused: ${errorLine(err)}`);
    }
    note('now with STALE metadata: we believe the owner has 32-token blocks, so our own check passes...');
    const stale = {
      ...owner.metadata,
      regions: owner.metadata.regions.map((r) => ({ ...r, layout: { ...r.layout, blockSize: 32 } })),
    };
    tcp.addRemoteAgent(stale);
    try {
      await tcp.read(OWNER, {
        localRegion: 'kv-bs32',
        remoteRegion: 'kv',
        localBlockIds: [0],
        remoteBlockIds: [0],
      });
      throw new Error('the owner served a read with a mismatched layout: it must refuse');
    } catch (err) {
      if ((err as Error).name !== 'LayoutMismatchError') throw err;
      note(`target refused: ${errorLine(err)}`);
    }
    note('...and the owner re-checks the layout that travels in every request header: no silent mis-copy.');
    tcp.addRemoteAgent(owner.metadata);

    step('The owner leaves (SIGTERM: it revokes its lease) → its key is deleted → the directory forgets it');
    await owner.stop();
    const gone = await until(() => !tcp.knowsAgent(OWNER));
    etcdctl.run(['get', '--prefix', '--keys-only', agentMetadataPrefix(OWNER_NAMESPACE)]);
    note(`reader-tcp knows ${OWNER}: ${!gone}`);
    try {
      await tcp.read(OWNER, { localRegion: 'kv', remoteRegion: 'kv', ...one });
      throw new Error('a read from a departed owner succeeded');
    } catch (err) {
      if ((err as Error).name !== 'UnknownAgentError') throw err;
      note(`after the owner left: ${errorLine(err)}`);
    }
    note(
      '(a kill -9 ends the same way, once the 5 s lease TTL runs out: the decode worker then prefills locally)',
    );
  } finally {
    await Promise.all(directories.map((d) => d.close()));
    await Promise.all(agents.map((a) => a.close()));
    await discovery?.close();
    await owner?.stop();
    await etcd?.stop();
  }
}

runLab(
  main,
  'etcd missing? sudo apt-get install -y etcd-server etcd-client. Then: npm run lab -- 4.1 --smoke',
);
