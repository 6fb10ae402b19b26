/**
 * `dhw infra up --secure`: etcd and nats-server that only cluster members can use, through the servers'
 * own mechanisms. Like a kubeadm init that writes the admin.conf: one command makes the PKI, starts both
 * servers locked down, and writes the one file (`cluster.json`) every member is started with.
 *
 *   etcd         TLS only, client certificate required (--client-cert-auth), RBAC on: user `dhw-member`
 *                may read and write under /dynamo/ only; `root` (password in etcd-root.json, never handed
 *                to members) administers
 *   nats-server  TLS only, client certificate required (--tlsverify), user `dhw-member` with a password
 *   cluster.secret  the request-plane / KV-transfer handshake secret
 *
 *   {dir}/pki/             CA, server and client certificates (cluster-pki.ts)
 *   {dir}/cluster.json     what members read (--cluster-config): endpoints, CA/cert/key, user, passwords
 *   {dir}/etcd-root.json   the etcd root password (operators only)
 *
 * A second `up --secure` on the same dir reuses the PKI, passwords and data.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { join, relative, resolve } from 'node:path';
import { CLUSTER_CONFIG_VERSION, type ClusterConfigFile } from '../protocols/cluster-config.ts';
import { isWildcardHost } from '../util/advertise-host.ts';
import { type ClusterPki, ensureClusterPki } from './cluster-pki.ts';
import { InfraError } from './errors.ts';
import { type EtcdServer, type NatsServer, type ServerTls, startEtcd, startNats } from './local-servers.ts';
import { type InfraRecord, infraDown, infraRecordPath, infraStatus } from './local-stack.ts';

export const MEMBER_USER = 'dhw-member';
/** What members may touch in etcd: this project's keys (names.ts DISCOVERY_ROOT). */
const MEMBER_PREFIX = '/dynamo/';

export interface SecureStackOptions {
  /** Where the PKI, data, logs and cluster.json live (created). */
  dir: string;
  detached?: boolean;
  allowInstall?: boolean;
  host?: string;
  advertiseHost?: string;
  etcdPort?: number;
  etcdPeerPort?: number;
  natsPort?: number;
  natsMonitorPort?: number;
}

export interface SecureStack {
  etcd: EtcdServer;
  nats: NatsServer;
  /** The file members read with --cluster-config. */
  configPath: string;
  config: ClusterConfigFile;
  pki: ClusterPki;
  stop(): Promise<void>;
}

interface Secrets {
  rootPassword: string;
  memberPassword: string;
  natsPassword: string;
}

const newPassword = () => randomBytes(24).toString('base64url');

/** Passwords from an earlier `up --secure` in `root`, else fresh ones. */
function loadOrCreateSecrets(root: string): Secrets {
  const configPath = join(root, 'cluster.json');
  const rootPath = join(root, 'etcd-root.json');
  if (existsSync(configPath) && existsSync(rootPath)) {
    const config = JSON.parse(readFileSync(configPath, 'utf8')) as ClusterConfigFile;
    const rootFile = JSON.parse(readFileSync(rootPath, 'utf8')) as { password: string };
    if (config.etcd?.password && config.nats?.password)
      return {
        rootPassword: rootFile.password,
        memberPassword: config.etcd.password,
        natsPassword: config.nats.password,
      };
  }
  return { rootPassword: newPassword(), memberPassword: newPassword(), natsPassword: newPassword() };
}

export async function startSecureStack(opts: SecureStackOptions): Promise<SecureStack> {
  const root = resolve(opts.dir);
  const named = [opts.advertiseHost, opts.host].filter(
    (h): h is string => h !== undefined && !isWildcardHost(h),
  );
  const pki = await ensureClusterPki(join(root, 'pki'), named);
  const tls: ServerTls = {
    ca: pki.ca,
    cert: pki.serverCert,
    key: pki.serverKey,
    clientCert: pki.clientCert,
    clientKey: pki.clientKey,
  };
  const secrets = loadOrCreateSecrets(root);
  const secretFile = join(root, 'cluster.secret');
  if (!existsSync(secretFile))
    writeFileSync(secretFile, `${randomBytes(32).toString('hex')}\n`, { mode: 0o600 });
  const common = {
    detached: opts.detached,
    allowInstall: opts.allowInstall,
    host: opts.host,
    advertiseHost: opts.advertiseHost,
    tls,
  };
  const etcd = await startEtcd({
    ...common,
    dataDir: join(root, 'etcd'),
    logFile: opts.detached ? join(root, 'etcd.log') : undefined,
    port: opts.etcdPort,
    peerPort: opts.etcdPeerPort,
  });
  let nats: NatsServer | undefined;
  try {
    await enableEtcdAuth(etcd.endpoint, tls, secrets);
    nats = await startNats({
      ...common,
      dataDir: join(root, 'nats'),
      logFile: opts.detached ? join(root, 'nats.log') : undefined,
      port: opts.natsPort,
      monitorPort: opts.natsMonitorPort,
      auth: { user: MEMBER_USER, password: secrets.natsPassword },
    });
  } catch (err) {
    await etcd.stop();
    throw err;
  }
  const rel = (path: string) => relative(root, path);
  const config: ClusterConfigFile = {
    version: CLUSTER_CONFIG_VERSION,
    etcd: {
      endpoints: etcd.endpoint,
      ca: rel(pki.ca),
      cert: rel(pki.clientCert),
      key: rel(pki.clientKey),
      user: MEMBER_USER,
      password: secrets.memberPassword,
    },
    nats: {
      url: nats.url,
      ca: rel(pki.ca),
      cert: rel(pki.clientCert),
      key: rel(pki.clientKey),
      user: MEMBER_USER,
      password: secrets.natsPassword,
    },
    clusterSecretFile: rel(secretFile),
  };
  const configPath = join(root, 'cluster.json');
  writeFileSync(configPath, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
  writeFileSync(
    join(root, 'etcd-root.json'),
    `${JSON.stringify({ user: 'root', password: secrets.rootPassword })}\n`,
    {
      mode: 0o600,
    },
  );
  const started = nats;
  return {
    etcd,
    nats: started,
    configPath,
    config,
    pki,
    stop: async () => {
      await started.stop();
      await etcd.stop();
    },
  };
}

/**
 * Turn on etcd's RBAC (once per data dir): root, a role that may read and write under /dynamo/ only, the
 * member user with that role, then `auth enable`. Already enabled (a restart on kept data) → nothing to do.
 */
async function enableEtcdAuth(endpoint: string, tls: ServerTls, secrets: Secrets): Promise<void> {
  const call = (path: string, body: object) => postWithRetry(`${endpoint}${path}`, body, tls);
  const asRoot = await call('/v3/auth/authenticate', { name: 'root', password: secrets.rootPassword });
  if (typeof asRoot.token === 'string') return;
  const b64 = (text: string) => Buffer.from(text).toString('base64');
  const rangeEnd = b64(
    MEMBER_PREFIX.slice(0, -1) + String.fromCharCode(MEMBER_PREFIX.charCodeAt(MEMBER_PREFIX.length - 1) + 1),
  );
  const steps: [string, object][] = [
    ['/v3/auth/user/add', { name: 'root', password: secrets.rootPassword }],
    ['/v3/auth/user/grant', { user: 'root', role: 'root' }],
    ['/v3/auth/role/add', { name: MEMBER_USER }],
    [
      '/v3/auth/role/grant',
      { name: MEMBER_USER, perm: { permType: 'READWRITE', key: b64(MEMBER_PREFIX), range_end: rangeEnd } },
    ],
    ['/v3/auth/user/add', { name: MEMBER_USER, password: secrets.memberPassword }],
    ['/v3/auth/user/grant', { user: MEMBER_USER, role: MEMBER_USER }],
    ['/v3/auth/enable', {}],
  ];
  for (const [path, body] of steps) {
    const answer = await call(path, body);
    if (answer.error !== undefined)
      throw new InfraError(
        `etcd ${path} failed while enabling auth: ${String(answer.message ?? answer.error)}`,
      );
  }
}

/**
 * etcd answers /health before its JSON gateway's own gRPC connection is up; calls in that window fail
 * with "connection closed" (gRPC UNAVAILABLE). Retry those for a few seconds.
 */
async function postWithRetry(url: string, body: object, tls: ServerTls): Promise<Record<string, unknown>> {
  for (let attempt = 1; ; attempt++) {
    const answer = await postJson(url, body, tls);
    const transient =
      answer.code === 14 || /connection (closed|error|reset)|transport:/i.test(String(answer.message ?? ''));
    if (!transient || attempt >= 50) return answer;
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** POST JSON over https with the member's client certificate (fetch cannot present one). */
function postJson(
  url: string,
  body: object,
  tls: ServerTls,
  token?: string,
): Promise<Record<string, unknown>> {
  const text = JSON.stringify(body);
  return new Promise((resolvePost, reject) => {
    const req = request(
      url,
      {
        method: 'POST',
        ca: readFileSync(tls.ca),
        cert: readFileSync(tls.clientCert),
        key: readFileSync(tls.clientKey),
        timeout: 5000,
        headers: {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(text),
          ...(token ? { authorization: token } : {}),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          try {
            resolvePost(JSON.parse(Buffer.concat(chunks).toString()) as Record<string, unknown>);
          } catch (err) {
            reject(new InfraError(`etcd ${url} answered something that is not JSON`, { cause: err }));
          }
        });
      },
    );
    req.on('timeout', () => req.destroy(new InfraError(`etcd ${url} did not answer within 5 s`)));
    req.on('error', reject);
    req.end(text);
  });
}

/**
 * `dhw infra up --secure`: the secured pair, detached, recorded in `{dir}/infra.json` like `infra up` (so
 * `down` and `status` work on it). Already up → reported as is.
 */
export async function infraUpSecure(
  dir: string,
  opts: Omit<SecureStackOptions, 'dir' | 'detached'> = {},
): Promise<{ record: InfraRecord; alreadyRunning: boolean }> {
  const existing = await infraStatus(dir);
  if (existing.record?.secure && existing.servers.every((s) => s.up))
    return { record: existing.record, alreadyRunning: true };
  if (existing.record) await infraDown(dir); // half up, stale or not secure: start clean (data is kept)
  const root = resolve(dir);
  const stack = await startSecureStack({ ...opts, dir: root, detached: true });
  const record: InfraRecord = {
    startedAt: new Date().toISOString(),
    etcd: {
      pid: stack.etcd.pid,
      binary: 'etcd',
      dataDir: stack.etcd.dataDir,
      logFile: join(root, 'etcd.log'),
      endpoint: stack.etcd.endpoint,
    },
    nats: {
      pid: stack.nats.pid,
      binary: 'nats-server',
      dataDir: stack.nats.dataDir,
      logFile: join(root, 'nats.log'),
      url: stack.nats.url,
      monitorUrl: stack.nats.monitorUrl,
    },
    secure: {
      clusterConfig: stack.configPath,
      tls: {
        ca: stack.pki.ca,
        cert: stack.pki.serverCert,
        key: stack.pki.serverKey,
        clientCert: stack.pki.clientCert,
        clientKey: stack.pki.clientKey,
      },
    },
  };
  writeFileSync(infraRecordPath(dir), `${JSON.stringify(record, null, 2)}\n`);
  return { record, alreadyRunning: false };
}
