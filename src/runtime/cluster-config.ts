/**
 * Reads the cluster config file (protocols/cluster-config.ts, written by `dhw infra up --secure`) into the
 * options each runtime piece takes: discovery's etcd endpoints and security, the event plane's NATS URL and
 * security, and the cluster secret. Like reading a kubeconfig: one file in, typed client settings out,
 * with relative paths resolved against the file's folder and every problem named with the file.
 */
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, join } from 'node:path';
import type { ClusterConfigFile } from '../protocols/cluster-config.ts';
import { ClusterSecret } from '../util/cluster-secret.ts';
import { InvalidRequestError } from '../util/errors.ts';
import type { TlsFiles } from '../util/tls-files.ts';
import type { EtcdSecurity } from './discovery/etcd-security.ts';
import type { NatsSecurity } from './events/nats-security.ts';

export interface ClusterMembership {
  etcdEndpoints?: string;
  etcdSecurity?: EtcdSecurity;
  natsServer?: string;
  natsSecurity?: NatsSecurity;
  clusterSecret?: ClusterSecret;
}

function fail(path: string, problem: string): never {
  throw new InvalidRequestError(`cluster config ${path}: ${problem}`, 'cluster-config');
}

export function loadClusterConfig(path: string): ClusterMembership {
  let file: ClusterConfigFile;
  try {
    file = JSON.parse(readFileSync(path, 'utf8')) as ClusterConfigFile;
  } catch (cause) {
    fail(path, `cannot read it as JSON (${(cause as Error).message}); \`dhw infra up --secure\` writes one`);
  }
  if (file.version !== 1) fail(path, `version ${JSON.stringify(file.version)} is not 1`);
  const base = dirname(path);
  const at = (p: string | undefined) => (p === undefined || isAbsolute(p) ? p : join(base, p));
  const tls = (section: { ca?: string; cert?: string; key?: string }): TlsFiles | undefined =>
    section.ca || section.cert || section.key
      ? { ca: at(section.ca), cert: at(section.cert), key: at(section.key) }
      : undefined;
  const membership: ClusterMembership = {};
  if (file.etcd) {
    if (typeof file.etcd.endpoints !== 'string') fail(path, 'etcd.endpoints must be a string of URLs');
    membership.etcdEndpoints = file.etcd.endpoints;
    membership.etcdSecurity = { tls: tls(file.etcd), user: file.etcd.user, password: file.etcd.password };
  }
  if (file.nats) {
    if (typeof file.nats.url !== 'string') fail(path, 'nats.url must be a string');
    const { user, password, token } = file.nats;
    membership.natsServer = file.nats.url;
    membership.natsSecurity = {
      tls: tls(file.nats),
      user,
      password,
      token,
      nkeySeedFile: at(file.nats.nkeySeedFile),
      credsFile: at(file.nats.credsFile),
    };
  }
  const secretFile = at(file.clusterSecretFile);
  if (secretFile) membership.clusterSecret = ClusterSecret.fromFile(secretFile);
  return membership;
}
