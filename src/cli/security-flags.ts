/**
 * Security flags, spelled once for every command (SECURITY.md explains the model):
 *
 *   --api-key KEY                frontend: clients send `Authorization: Bearer KEY` (default: $DYN_API_KEY;
 *                                vLLM's flag name, Dynamo's DYN_ variable prefix)
 *   --public-paths LIST          frontend: paths served without the key (default /health,/live,/metrics;
 *                                "none" closes them all)
 *   --cluster-config FILE        etcd/NATS endpoints, TLS files and credentials, and the cluster secret, as
 *                                `dhw infra up --secure` writes them (default: $DYN_CLUSTER_CONFIG)
 *   --cluster-secret-file FILE   the request-plane / KV-transfer handshake secret alone
 *                                (default: $DYN_CLUSTER_SECRET_FILE, else the cluster config's)
 *
 * Explicit --etcd-endpoints / --nats-server still win over the endpoints in the cluster config.
 */
import { DEFAULT_PUBLIC_PATHS } from '../frontend/api-key.ts';
import type { FrontendOptions } from '../frontend/index.ts';
import { type ClusterMembership, loadClusterConfig } from '../runtime/cluster-config.ts';
import type { DiscoveryOptions } from '../runtime/discovery/index.ts';
import { ClusterSecret } from '../util/cluster-secret.ts';
import { type FlagSpecs, type ParsedCommand, stringFlag, UsageError } from './args.ts';

export const API_KEY_FLAGS: FlagSpecs = {
  'api-key': {
    type: 'string',
    help: 'require `Authorization: Bearer KEY` from clients (default: $DYN_API_KEY; unset = no key)',
  },
  'public-paths': {
    type: 'string',
    help: `with --api-key: paths served without the key, comma-separated, or "none" (default ${DEFAULT_PUBLIC_PATHS.join(',')})`,
  },
};

export const CLUSTER_FLAGS: FlagSpecs = {
  'cluster-config': {
    type: 'string',
    help: 'cluster.json from `dhw infra up --secure`: etcd/NATS TLS + credentials, cluster secret (default: $DYN_CLUSTER_CONFIG)',
  },
  'cluster-secret-file': {
    type: 'string',
    help: 'shared secret workers and frontends prove to each other (default: $DYN_CLUSTER_SECRET_FILE, else the cluster config)',
  },
};

function fromFlagOrEnv(values: ParsedCommand['values'], flag: string, env: string): string | undefined {
  const value = stringFlag(values, flag) ?? process.env[env];
  return value?.trim() ? value.trim() : undefined;
}

/** FrontendOptions.auth from API_KEY_FLAGS. */
export function apiKeyFromFlags(values: ParsedCommand['values']): Pick<FrontendOptions, 'auth'> {
  const apiKey = fromFlagOrEnv(values, 'api-key', 'DYN_API_KEY');
  const paths = stringFlag(values, 'public-paths');
  if (paths !== undefined && apiKey === undefined)
    throw new UsageError('--public-paths only matters with --api-key (or $DYN_API_KEY)');
  const publicPaths =
    paths === undefined
      ? undefined
      : paths.trim() === 'none'
        ? []
        : paths
            .split(',')
            .map((p) => p.trim())
            .filter(Boolean);
  for (const path of publicPaths ?? [])
    if (!path.startsWith('/')) throw new UsageError(`--public-paths: "${path}" must start with /`);
  return apiKey === undefined ? {} : { auth: { apiKey, publicPaths } };
}

/** What the cluster flags say: the cluster config (if any) with an explicit secret file on top. */
export function clusterFromFlags(values: ParsedCommand['values']): ClusterMembership {
  const configPath = fromFlagOrEnv(values, 'cluster-config', 'DYN_CLUSTER_CONFIG');
  const membership = configPath ? loadClusterConfig(configPath) : {};
  const secretFile = fromFlagOrEnv(values, 'cluster-secret-file', 'DYN_CLUSTER_SECRET_FILE');
  if (secretFile) membership.clusterSecret = ClusterSecret.fromFile(secretFile);
  return membership;
}

/** `discovery` with the cluster config's etcd endpoints (unless --etcd-endpoints was given) and security. */
export function withClusterDiscovery(
  discovery: DiscoveryOptions,
  cluster: ClusterMembership,
): DiscoveryOptions {
  return {
    ...discovery,
    etcdEndpoints: discovery.etcdEndpoints ?? cluster.etcdEndpoints,
    etcdSecurity: cluster.etcdSecurity,
  };
}

/** The event plane's NATS URL (an explicit --nats-server wins) and security from the cluster config. */
export function clusterEvents(
  natsServer: string | undefined,
  cluster: ClusterMembership,
): { natsServer?: string; natsSecurity?: ClusterMembership['natsSecurity'] } {
  return { natsServer: natsServer ?? cluster.natsServer, natsSecurity: cluster.natsSecurity };
}
