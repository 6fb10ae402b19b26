/**
 * `dhw doctor --cluster-config FILE`: the connectivity checks for a secured cluster (`dhw infra up
 * --secure`). A plain TCP or HTTP probe says nothing useful there (etcd refuses a client without a
 * certificate; NATS greets everyone, then drops whoever has no credentials), so each check does what a
 * member does, step by step, and names the step that failed: like `openssl s_client` then `psql` with the
 * password, one line each.
 *
 *   etcd:  TLS handshake with the member's client certificate (GET /version) → authenticate as the RBAC
 *          user → read the project's prefix (/dynamo/), which the member role is allowed.
 *   NATS:  a real client connection with the member's TLS files and credentials (the server checks both).
 *   peers: the cluster secret against each registered worker's request plane (HMAC challenge both ways).
 */
import type { IncomingMessage } from 'node:http';
import { request } from 'node:https';
import { connect } from 'node:net';
import type { InstanceInfo } from '../../protocols/discovery.ts';
import type { EtcdSecurity } from '../../runtime/discovery/etcd-security.ts';
import { tlsAgent } from '../../runtime/discovery/etcd-security.ts';
import { EtcdGateway } from '../../runtime/discovery/index.ts';
import { connectNats } from '../../runtime/events/nats-connection.ts';
import type { NatsSecurity } from '../../runtime/events/index.ts';
import { type ClusterSecret, proveClusterSecret } from '../../util/cluster-secret.ts';
import type { EtcdProbe, NatsProbe } from './doctor-checks.ts';
import type { CheckResult } from './doctor-result.ts';

const PROBE_TIMEOUT_MS = 2000;
/** Every key a member may read (secure-stack.ts grants the member role this prefix only). */
const MEMBER_PREFIX = '/dynamo/';

function messageOf(err: unknown): string {
  const e = err as { code?: string; message?: string; cause?: { code?: string; message?: string } };
  return e.cause?.message ?? e.message ?? e.code ?? String(err);
}

/** GET /version over TLS with the member's CA and client certificate. */
function tlsVersion(endpoint: string, security: EtcdSecurity): Promise<string | undefined> {
  const agent = tlsAgent(security.tls ?? {});
  return new Promise((resolve, reject) => {
    const req = request(
      `${endpoint}/version`,
      { agent, signal: AbortSignal.timeout(PROBE_TIMEOUT_MS) },
      (res: IncomingMessage) => {
        let body = '';
        res.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
        res.on('end', () => {
          agent.destroy();
          try {
            resolve((JSON.parse(body) as { etcdserver?: string }).etcdserver);
          } catch {
            reject(new Error(`HTTP ${res.statusCode}: not etcd's /version`));
          }
        });
      },
    );
    req.on('error', (err) => {
      agent.destroy();
      reject(err);
    });
    req.end();
  });
}

export interface SecureEtcdProbe extends EtcdProbe {
  /** What failed, for the fix: 'tls' (handshake or certificate), 'auth' (user/password), 'rbac' (prefix). */
  step?: 'tls' | 'auth' | 'rbac';
  /** Keys under /dynamo/ the member could read. */
  keys?: number;
}

/** One endpoint, as a member: TLS (if configured), then the RBAC login, then a read of /dynamo/. */
export async function probeSecureEtcd(endpoint: string, security: EtcdSecurity): Promise<SecureEtcdProbe> {
  let version: string | undefined;
  if (security.tls) {
    try {
      version = await tlsVersion(endpoint, security);
    } catch (err) {
      return { endpoint, ok: false, step: 'tls', error: messageOf(err) };
    }
  }
  const gateway = new EtcdGateway([endpoint], PROBE_TIMEOUT_MS, security);
  try {
    const { kvs } = await gateway.range(MEMBER_PREFIX);
    return { endpoint, ok: true, version, keys: kvs.length };
  } catch (err) {
    const error = messageOf(err);
    const step = /authenticat|password|user name/i.test(error) ? 'auth' : 'rbac';
    return { endpoint, ok: false, version, step: security.tls || step === 'auth' ? step : 'tls', error };
  }
}

const ETCD_FIXES: Record<NonNullable<SecureEtcdProbe['step']>, string> = {
  tls: "etcd refused the TLS handshake or this client's certificate: is the cluster config's ca/cert/key from the same `dhw infra up --secure` as the server (and the endpoint https://)?",
  auth: 'etcd refused the user or password: use the cluster.json `dhw infra up --secure` wrote for this cluster (its etcd.user and etcd.password)',
  rbac: `the user logged in but may not read ${MEMBER_PREFIX}: grant its role that prefix (\`etcdctl role grant-permission --prefix\`)`,
};

/** The etcd check line from the endpoints' secure probes. */
export function secureEtcdResult(probes: SecureEtcdProbe[], security: EtcdSecurity): CheckResult {
  const section = 'connectivity';
  const good = probes.find((p) => p.ok);
  const how = [
    security.tls?.cert ? 'client certificate' : security.tls ? 'TLS' : '',
    security.user ? `user ${security.user}` : '',
  ]
    .filter(Boolean)
    .join(' + ');
  if (good) {
    return {
      section,
      name: 'etcd (secure)',
      status: 'ok',
      detail: `${good.endpoint} (etcd ${good.version ?? '?'}): ${how || 'no credentials'} accepted, ${good.keys} key(s) readable under ${MEMBER_PREFIX}`,
    };
  }
  const first = probes[0];
  return {
    section,
    name: 'etcd (secure)',
    status: 'fail',
    detail: probes.map((p) => `${p.endpoint}: ${p.step ?? 'connect'} failed (${p.error})`).join('; '),
    fix: first?.step ? ETCD_FIXES[first.step] : 'Is etcd running? Try: `dhw infra up --secure`',
  };
}

/** A member's NATS connection: the server checks TLS, client certificate and credentials on CONNECT. */
export async function probeSecureNats(url: string, security: NatsSecurity): Promise<NatsProbe> {
  try {
    const nc = await connectNats({
      url,
      name: `dhw-doctor-${process.pid}`,
      connectTimeoutMs: PROBE_TIMEOUT_MS,
      maxReconnectAttempts: 0,
      natsSecurity: security,
    });
    const info = nc.info;
    await nc.close();
    return { url, ok: true, version: info?.version, jetstream: info?.jetstream === true };
  } catch (err) {
    return { url, ok: false, error: messageOf(err) };
  }
}

/** The NATS check line for a secure probe. */
export function secureNatsResult(probe: NatsProbe, security: NatsSecurity): CheckResult {
  const section = 'connectivity';
  const how =
    [
      security.tls?.cert ? 'client certificate' : security.tls ? 'TLS' : '',
      security.user ? `user ${security.user}` : '',
      security.token ? 'token' : '',
      security.nkeySeedFile ? 'NKey' : '',
      security.credsFile ? 'creds file' : '',
    ]
      .filter(Boolean)
      .join(' + ') || 'no credentials';
  if (!probe.ok) {
    const authProblem = /authori[sz]ation|auth|permission/i.test(probe.error ?? '');
    return {
      section,
      name: 'NATS (secure)',
      status: 'fail',
      detail: `${probe.url} refused a member connection with ${how} (${probe.error})`,
      fix: authProblem
        ? 'NATS refused the credentials: use the cluster.json `dhw infra up --secure` wrote for this cluster (its nats.user/password or token)'
        : "no TLS session or connection: is nats-server running with TLS (`dhw infra up --secure`), and are the config's ca/cert/key from the same PKI?",
    };
  }
  if (!probe.jetstream) {
    return {
      section,
      name: 'NATS (secure)',
      status: 'fail',
      detail: `${probe.url}: ${how} accepted, but JetStream is off (KV events need it)`,
      fix: 'restart nats-server with -js (`dhw infra up --secure` does)',
    };
  }
  return {
    section,
    name: 'NATS (secure)',
    status: 'ok',
    detail: `${probe.url} (nats-server ${probe.version}, JetStream on): ${how} accepted`,
  };
}

/** Dial a worker's request plane and run the dialler's half of the cluster-secret handshake. */
function handshake(address: string, secret: ClusterSecret): Promise<void> {
  const match = /^(.+):(\d+)$/.exec(address);
  if (!match) return Promise.reject(new Error('not host:port'));
  const socket = connect(Number(match[2]), match[1]!.replace(/^\[|\]$/g, ''));
  const run = async () => {
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    await proveClusterSecret(socket, secret, PROBE_TIMEOUT_MS);
  };
  return run().finally(() => socket.destroy());
}

/** One line per instance: does its request plane accept our cluster secret (and prove the same one)? */
export async function checkClusterSecret(
  instances: readonly InstanceInfo[],
  secret: ClusterSecret | undefined,
): Promise<CheckResult[]> {
  const section = 'registration';
  if (secret === undefined) return [];
  return Promise.all(
    instances.map(async (instance): Promise<CheckResult> => {
      const name = `secret ${instance.instanceId}`;
      try {
        await handshake(instance.transport.tcp, secret);
        return {
          section,
          name,
          status: 'ok',
          detail: `${instance.transport.tcp}: cluster-secret handshake passed both ways`,
        };
      } catch (err) {
        return {
          section,
          name,
          status: 'fail',
          detail: `${instance.transport.tcp}: cluster-secret handshake failed (${messageOf(err)})`,
          fix: 'start the worker with the same --cluster-config / --cluster-secret-file as this frontend host',
        };
      }
    }),
  );
}
