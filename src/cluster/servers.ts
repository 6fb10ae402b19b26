/**
 * etcd and nats-server in node 0: the cluster's control plane, started detached so it outlives `dhw cluster
 * up` (the same launcher as `dhw infra up`, with `ip netns exec` in front). They listen on every address
 * *of node 0's namespace* (its lo and eth0, nothing on the host) and advertise node 0's cluster address.
 * Readiness is probed from inside node 0 (the host has no route to the cluster subnet).
 */
import { join } from 'node:path';
import { ensureServerBinary } from '../infra/server-binary.ts';
import { launchServer, type RunningProcess } from '../infra/server-process.ts';
import { fetchInNode, nodeCommandLine } from './node-exec.ts';
import type { ClusterState } from './state.ts';

export const ETCD_PORT = 2379;
export const ETCD_PEER_PORT = 2380;
export const NATS_PORT = 4222;
export const NATS_MONITOR_PORT = 8222;
const CONTROL_NODE = 0;

async function healthy(cluster: string, url: string, check: (body: Record<string, unknown>) => boolean) {
  const res = await fetchInNode(cluster, CONTROL_NODE, url, { timeoutMs: 1000 });
  if (res.status !== 200 || !res.body) return false;
  try {
    return check(JSON.parse(res.body) as Record<string, unknown>);
  } catch {
    return false;
  }
}

export const etcdHealthy = (cluster: string, endpoint: string) =>
  healthy(cluster, `${endpoint}/health`, (b) => b.health === 'true');
export const natsHealthy = (cluster: string, monitorUrl: string) =>
  healthy(cluster, `${monitorUrl}/healthz`, (b) => b.status === 'ok');

async function launchInNode(
  cluster: string,
  name: 'etcd' | 'nats-server',
  args: string[],
  logFile: string,
  isReady: () => Promise<boolean>,
): Promise<RunningProcess> {
  const binary = await ensureServerBinary(name);
  const [file, ...prefix] = nodeCommandLine(cluster, CONTROL_NODE, [binary, ...args]);
  return launchServer({
    name,
    binary: file!,
    args: prefix,
    isReady,
    readyTimeoutMs: 30_000,
    detached: true,
    logFile,
  });
}

/** Start etcd and NATS in node 0; on failure nothing is left running. Returns what to record. */
export async function startControlPlane(
  state: ClusterState,
  stateDir: string,
): Promise<Pick<ClusterState, 'etcd' | 'nats'>> {
  const host = state.addresses[CONTROL_NODE]!;
  const endpoint = `http://${host}:${ETCD_PORT}`;
  const etcdData = join(stateDir, 'etcd');
  const etcdLog = join(stateDir, 'etcd.log');
  const peer = `http://127.0.0.1:${ETCD_PEER_PORT}`;
  // biome-ignore format: one flag and its value per line
  const etcd = await launchInNode(state.name, 'etcd', [
    '--name', 'dhw',
    '--data-dir', etcdData,
    '--listen-client-urls', `http://0.0.0.0:${ETCD_PORT}`,
    '--advertise-client-urls', endpoint,
    '--listen-peer-urls', peer,
    '--initial-advertise-peer-urls', peer,
    '--initial-cluster', `dhw=${peer}`,
    '--log-level', 'warn',
  ], etcdLog, () => etcdHealthy(state.name, endpoint));
  const natsData = join(stateDir, 'nats');
  const natsLog = join(stateDir, 'nats.log');
  const monitorUrl = `http://${host}:${NATS_MONITOR_PORT}`;
  let nats: RunningProcess;
  try {
    // biome-ignore format: one flag and its value per line
    nats = await launchInNode(state.name, 'nats-server', [
      '-a', '0.0.0.0',
      '-p', String(NATS_PORT),
      '-m', String(NATS_MONITOR_PORT),
      '-js', '-sd', natsData,
    ], natsLog, () => natsHealthy(state.name, monitorUrl));
  } catch (err) {
    await etcd.stop();
    throw err;
  }
  return {
    etcd: { pid: etcd.pid, binary: 'etcd', logFile: etcdLog, dataDir: etcdData, endpoint },
    nats: {
      pid: nats.pid,
      binary: 'nats-server',
      logFile: natsLog,
      dataDir: natsData,
      url: `nats://${host}:${NATS_PORT}`,
      monitorUrl,
    },
  };
}
