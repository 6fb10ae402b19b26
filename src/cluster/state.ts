/**
 * What `dhw cluster up` made, written to `{stateRoot}/{name}/cluster.json` so `status`, `run` and `down` work
 * from later invocations (like /run/netns itself, the default root /run/dhw is a tmpfs that a reboot clears,
 * together with the namespaces it describes).
 */
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { ClusterError } from './errors.ts';

export const DEFAULT_STATE_ROOT = '/run/dhw';

export interface RecordedClusterServer {
  pid: number;
  binary: 'etcd' | 'nats-server';
  logFile: string;
  dataDir: string;
}

export interface ClusterState {
  name: string;
  nodes: number;
  subnet: string;
  /** Node i's address, `addresses[i]`. */
  addresses: string[];
  mtu: number;
  /** The --link argument as given ("1gbit,2ms"), or undefined when unshaped. */
  link?: { spec: string; bytesPerSecond: number; latencyMs: number };
  createdAt: string;
  /** Where etcd and NATS run (node 0) and how a node reaches them. */
  etcd?: RecordedClusterServer & { endpoint: string };
  nats?: RecordedClusterServer & { url: string; monitorUrl: string };
}

export function clusterStateDir(stateRoot: string, name: string): string {
  return join(resolve(stateRoot), name);
}

function statePath(stateRoot: string, name: string): string {
  return join(clusterStateDir(stateRoot, name), 'cluster.json');
}

export function readClusterState(stateRoot: string, name: string): ClusterState | undefined {
  const path = statePath(stateRoot, name);
  if (!existsSync(path)) return undefined;
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as ClusterState;
  } catch (err) {
    throw new ClusterError(`${path} is not valid JSON; run \`dhw cluster down\` to clean up`, { cause: err });
  }
}

export async function writeClusterState(stateRoot: string, state: ClusterState): Promise<void> {
  await mkdir(clusterStateDir(stateRoot, state.name), { recursive: true, mode: 0o700 });
  await writeFile(statePath(stateRoot, state.name), `${JSON.stringify(state, null, 2)}\n`);
}

/** Forget the cluster: its state dir with the etcd/NATS data and logs. */
export async function removeClusterState(stateRoot: string, name: string): Promise<void> {
  await rm(clusterStateDir(stateRoot, name), { recursive: true, force: true });
}

/** The environment a process in any node needs to find node 0's servers. */
export function clusterEnv(state: ClusterState): Record<string, string> {
  const env: Record<string, string> = {};
  if (state.etcd) env.ETCD_ENDPOINTS = state.etcd.endpoint;
  if (state.nats) env.NATS_SERVER = state.nats.url;
  return env;
}
