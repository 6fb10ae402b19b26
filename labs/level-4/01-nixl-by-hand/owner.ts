/**
 * Lab 4.1's second process: the "prefill worker" side of a KV hand-off, with no model in it. It owns a KV
 * block pool shaped like SmolLM2-135M's (30 layers, 3 KV heads, head dim 64, 16-token blocks, f32 = 720 KiB
 * per block), fills it with a pattern that makes every block of every layer distinct, registers it with a
 * transfer agent listening on TCP and a Unix socket, and (with --etcd) publishes the agent's metadata under
 * its own etcd lease, as a worker does. Like `ib_read_bw`'s server side: it only registers memory and waits.
 *
 *   node --import tsx labs/level-4/01-nixl-by-hand/owner.ts --blocks 256 [--etcd http://127.0.0.1:2379]
 *
 * stdout, one JSON line each: {ready: {metadata, key?, fillMs}} once serving, then {notif: {from, message}}
 * for every notification a reader sends. SIGTERM: revoke the lease (the key disappears at once), exit 0.
 */
import { parseArgs } from 'node:util';
import { EtcdDiscovery } from '../../../src/runtime/discovery/index.ts';
import { publishAgentMetadata, StreamTransport, TransferAgent } from '../../../src/transfer/index.ts';
import { allocateRegion, fillPattern } from '../../../src/transfer/test-regions.ts';
import { LAYOUT, OWNER_NAMESPACE, OWNER_SEED } from './transfer-rig.ts';

const { values } = parseArgs({
  options: {
    blocks: { type: 'string', default: '16' },
    etcd: { type: 'string' },
    name: { type: 'string', default: 'prefill-owner' },
  },
});

const emit = (line: unknown) => process.stdout.write(`${JSON.stringify(line)}\n`);

async function main(): Promise<void> {
  const numBlocks = Number(values.blocks);
  const started = performance.now();
  const region = fillPattern(allocateRegion('kv', LAYOUT, numBlocks), OWNER_SEED);
  const fillMs = performance.now() - started;
  const agent = new TransferAgent({
    name: values.name as string,
    transports: [new StreamTransport('tcp'), new StreamTransport('unix')],
    timeoutMs: 120_000,
  });
  agent.registerRegion(region);
  agent.onNotif((n) => emit({ notif: n }));
  const metadata = await agent.start();
  // A worker publishes under its lease: if this process dies, etcd deletes the key when the TTL runs out,
  // and every peer's AgentDirectory forgets us. SIGTERM revokes the lease so the key goes at once.
  const discovery = values.etcd
    ? await EtcdDiscovery.connect({ endpoints: [values.etcd], ttlSeconds: 5 })
    : undefined;
  const key = discovery ? await publishAgentMetadata(discovery, OWNER_NAMESPACE, metadata) : undefined;
  const shutdown = async () => {
    await discovery?.close();
    await agent.close();
    process.exit(0);
  };
  process.once('SIGTERM', () => void shutdown());
  process.stdin.on('end', () => void shutdown()); // the lab exited: do not outlive it
  process.stdin.resume();
  emit({ ready: { metadata, key, fillMs, leaseId: discovery?.leaseId() } });
}

main().catch((err: Error) => {
  process.stderr.write(`owner failed: ${err.name}: ${err.message}\n`);
  process.exit(1);
});
