/**
 * Local etcd and NATS servers on loopback, for tests and `dhw infra up`: the project's docker-compose,
 * without docker. Each server binds 127.0.0.1 on free (or given) ports, keeps its data in a temp dir (removed
 * on stop) or a given dir (kept), is ready when its health endpoint says so, and is stopped by pid.
 * Attached servers die with the process that started them; `detached: true` ones outlive it.
 *
 *   const etcd = await startEtcd();            // etcd.endpoint = http://127.0.0.1:PORT
 *   const nats = await startNats();            // nats.url = nats://127.0.0.1:PORT, JetStream on
 *   await etcd.restart();                      // same port, same data: a server crash + recovery
 *   await etcd.stop(); await nats.stop();
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { get as httpsGet } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isWildcardHost, resolveAdvertiseHost } from '../util/advertise-host.ts';
import { InfraError } from './errors.ts';
import { freePort, isPortListening } from './free-port.ts';
import { ensureServerBinary } from './server-binary.ts';
import { launchServer, type RunningProcess } from './server-process.ts';

export { freePort } from './free-port.ts';
export { ensureServerBinary } from './server-binary.ts';

export interface ManagedServer {
  readonly pid: number;
  readonly dataDir: string;
  stop(): Promise<void>;
  /**
   * Stop and start again on the same port with the same data dir (the pid changes): a crash and recovery.
   * `downMs` keeps it down that long first (an outage); `kill` stops it with SIGKILL instead of SIGTERM.
   */
  restart(opts?: { downMs?: number; kill?: boolean }): Promise<void>;
}
export interface EtcdServer extends ManagedServer {
  /** http://127.0.0.1:PORT */
  readonly endpoint: string;
}
export interface NatsServer extends ManagedServer {
  /** nats://127.0.0.1:PORT */
  readonly url: string;
  /** http://127.0.0.1:PORT of the monitoring endpoint (/healthz, /varz, /jsz). */
  readonly monitorUrl: string;
}

/** Options shared by both servers; `detached`/`logFile` are for `dhw infra up`. */
export interface CommonServerOptions {
  dataDir?: string;
  /** Outlive this process (own session, no exit hook). Output goes to `logFile`. */
  detached?: boolean;
  logFile?: string;
  /** Install the binary with apt if missing (root only). Default true. */
  allowInstall?: boolean;
  /** Bind address (default 127.0.0.1). 0.0.0.0 needs `advertiseHost`. */
  host?: string;
  /** The host clients are told to use (etcd's advertise URL; the URLs returned). Default: `host`. */
  advertiseHost?: string;
  /**
   * Serve TLS only and require CA-signed client certificates (cluster-pki.ts makes the files). The readiness
   * probe presents `clientCert`. Default: plain TCP, anyone may connect.
   */
  tls?: ServerTls;
}

export interface ServerTls {
  ca: string;
  cert: string;
  key: string;
  clientCert: string;
  clientKey: string;
}
export interface EtcdOptions extends CommonServerOptions {
  port?: number;
  peerPort?: number;
}
export interface NatsOptions extends CommonServerOptions {
  /** Require this user and password of every client (nats-server --user/--pass). */
  auth?: { user: string; password: string };
  port?: number;
  /** Monitoring (HTTP) port, used as the readiness probe. Default: a free port. */
  monitorPort?: number;
  /** Default true (`-js`). */
  jetstream?: boolean;
}

const BIND_ATTEMPTS = 3;

/** GET `url` as JSON (undefined unless 200); over https with the client certificate when `tls` is given. */
export async function fetchJson(url: string, tls?: ServerTls): Promise<unknown> {
  if (tls) return httpsGetJson(url, tls);
  const res = await fetch(url, { signal: AbortSignal.timeout(1000) });
  return res.ok ? res.json() : undefined;
}

/** GET over https presenting the client certificate (fetch cannot present one). */
function httpsGetJson(url: string, tls: ServerTls): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const req = httpsGet(
      url,
      {
        ca: readFileSync(tls.ca),
        cert: readFileSync(tls.clientCert),
        key: readFileSync(tls.clientKey),
        timeout: 1000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          try {
            resolve(res.statusCode === 200 ? JSON.parse(Buffer.concat(chunks).toString()) : undefined);
          } catch (err) {
            reject(err);
          }
        });
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

/** A probe that is "not ready" on any error (connection refused while the server boots). */
function probe(check: () => Promise<boolean>): () => Promise<boolean> {
  return () => check().catch(() => false);
}

async function prepareDataDir(
  given: string | undefined,
  prefix: string,
): Promise<{ dir: string; owned: boolean }> {
  if (given) {
    await mkdir(given, { recursive: true, mode: 0o700 });
    return { dir: given, owned: false };
  }
  return { dir: await mkdtemp(join(tmpdir(), prefix)), owned: true };
}

/** Runs one server: (re)launches it from a fixed spec and removes an owned data dir on stop. */
class LocalServer implements ManagedServer {
  constructor(
    private process: RunningProcess,
    private readonly relaunch: () => Promise<RunningProcess>,
    readonly dataDir: string,
    private readonly ownsDataDir: boolean,
  ) {}

  get pid(): number {
    return this.process.pid;
  }

  async stop(): Promise<void> {
    await this.process.stop();
    if (this.ownsDataDir) await rm(this.dataDir, { recursive: true, force: true });
  }

  async restart(opts: { downMs?: number; kill?: boolean } = {}): Promise<void> {
    await this.process.stop(opts.kill ? 0 : undefined);
    if (opts.downMs) await new Promise((resolve) => setTimeout(resolve, opts.downMs));
    this.process = await this.relaunch();
  }
}

/**
 * Launch with fresh free ports until the bind succeeds (another process may grab a port we were given).
 * A port that already answers is refused up front: otherwise the readiness probe would talk to the server
 * that holds it and report ours ready.
 */
async function launchWithPorts<P extends Record<string, number>>(
  name: string,
  pickPorts: () => Promise<P>,
  portsFixed: boolean,
  launch: (ports: P) => Promise<RunningProcess>,
): Promise<{ ports: P; process: RunningProcess }> {
  for (let attempt = 1; ; attempt++) {
    const ports = await pickPorts();
    try {
      for (const port of Object.values(ports)) {
        if (await isPortListening(port)) {
          throw new InfraError(
            `${name} cannot start: port ${port} on 127.0.0.1 is already in use (another ${name}? ` +
              'check `dhw infra status`, `ss -ltnp`), or choose other ports',
          );
        }
      }
      return { ports, process: await launch(ports) };
    } catch (err) {
      if (portsFixed || attempt >= BIND_ATTEMPTS || !(err instanceof InfraError)) throw err;
    }
  }
}

class LocalEtcd extends LocalServer implements EtcdServer {
  constructor(
    process: RunningProcess,
    relaunch: () => Promise<RunningProcess>,
    dataDir: string,
    owns: boolean,
    readonly endpoint: string,
  ) {
    super(process, relaunch, dataDir, owns);
  }
}

class LocalNats extends LocalServer implements NatsServer {
  constructor(
    process: RunningProcess,
    relaunch: () => Promise<RunningProcess>,
    dataDir: string,
    owns: boolean,
    readonly url: string,
    readonly monitorUrl: string,
  ) {
    super(process, relaunch, dataDir, owns);
  }
}

/** Where to bind, what to advertise, and where this process probes readiness (loopback for a wildcard bind). */
function addressing(
  opts: CommonServerOptions,
  what: string,
): { bind: string; advertise: string; probe: string } {
  const bind = opts.host ?? '127.0.0.1';
  const advertise = resolveAdvertiseHost(bind, opts.advertiseHost, `${what} (--host / --advertise-host)`);
  return { bind, advertise, probe: isWildcardHost(bind) ? '127.0.0.1' : bind };
}

function etcdArgs(
  dataDir: string,
  port: number,
  peerPort: number,
  where: { bind: string; advertise: string },
  tls?: ServerTls,
): string[] {
  const scheme = tls ? 'https' : 'http';
  const listen = `${scheme}://${where.bind}:${port}`;
  const client = `${scheme}://${where.advertise}:${port}`;
  // biome-ignore format: one flag and its value per line
  const secure = tls
    ? ['--cert-file', tls.cert, '--key-file', tls.key, '--trusted-ca-file', tls.ca, '--client-cert-auth']
    : [];
  const peer = `http://127.0.0.1:${peerPort}`;
  // biome-ignore format: one flag and its value per line
  return [
    '--name', 'dhw',
    '--data-dir', dataDir,
    '--listen-client-urls', listen,
    '--advertise-client-urls', client,
    '--listen-peer-urls', peer,
    '--initial-advertise-peer-urls', peer,
    '--initial-cluster', `dhw=${peer}`,
    '--logger', 'zap',
    '--log-outputs', 'stderr',
    '--log-level', 'warn',
    ...secure,
  ];
}

/** Start a single-member etcd on loopback; ready when GET /health says {"health":"true"} (it has a leader). */
export async function startEtcd(opts: EtcdOptions = {}): Promise<EtcdServer> {
  const binary = await ensureServerBinary('etcd', { allowInstall: opts.allowInstall });
  const where = addressing(opts, 'etcd');
  const { dir, owned } = await prepareDataDir(opts.dataDir, 'dhw-etcd-');
  const scheme = opts.tls ? 'https' : 'http';
  const launchAt = (ports: { port: number; peerPort: number }) =>
    launchServer({
      name: 'etcd',
      binary,
      args: etcdArgs(dir, ports.port, ports.peerPort, where, opts.tls),
      isReady: probe(async () => {
        const body = (await fetchJson(`${scheme}://${where.probe}:${ports.port}/health`, opts.tls)) as
          | { health?: string }
          | undefined;
        return body?.health === 'true';
      }),
      detached: opts.detached,
      logFile: opts.logFile,
      tempDir: owned ? dir : undefined,
    });
  try {
    const { ports, process } = await launchWithPorts(
      'etcd',
      async () => ({ port: opts.port ?? (await freePort()), peerPort: opts.peerPort ?? (await freePort()) }),
      opts.port !== undefined,
      launchAt,
    );
    return new LocalEtcd(
      process,
      () => launchAt(ports),
      dir,
      owned,
      `${scheme}://${where.advertise}:${ports.port}`,
    );
  } catch (err) {
    if (owned) await rm(dir, { recursive: true, force: true });
    throw err;
  }
}

function natsArgs(
  dataDir: string,
  host: string,
  port: number,
  monitorPort: number,
  jetstream: boolean,
  security: Pick<NatsOptions, 'tls' | 'auth'> = {},
): string[] {
  const args = ['-a', host, '-p', String(port), '-m', String(monitorPort)];
  const { tls, auth } = security;
  // biome-ignore format: one flag and its value per line
  if (tls) args.push('--tlsverify', '--tlscert', tls.cert, '--tlskey', tls.key, '--tlscacert', tls.ca);
  // The password goes in a 0600 config file, not argv, where any local user could read it in /proc.
  if (auth) args.push('-c', writeNatsAuthConfig(dataDir, auth));
  return jetstream ? [...args, '-js', '-sd', dataDir] : args;
}

function writeNatsAuthConfig(dataDir: string, auth: { user: string; password: string }): string {
  const path = join(dataDir, 'auth.conf');
  const users = `[{ user: ${JSON.stringify(auth.user)}, password: ${JSON.stringify(auth.password)} }]`;
  writeFileSync(path, `authorization { users: ${users} }\n`, { mode: 0o600 });
  return path;
}

/** Start nats-server on loopback (JetStream on by default); ready when the monitor's /healthz says ok. */
export async function startNats(opts: NatsOptions = {}): Promise<NatsServer> {
  const binary = await ensureServerBinary('nats-server', { allowInstall: opts.allowInstall });
  const where = addressing(opts, 'nats-server');
  const { dir, owned } = await prepareDataDir(opts.dataDir, 'dhw-nats-');
  const jetstream = opts.jetstream ?? true;
  const launchAt = (ports: { port: number; monitorPort: number }) =>
    launchServer({
      name: 'nats-server',
      binary,
      args: natsArgs(dir, where.bind, ports.port, ports.monitorPort, jetstream, opts),
      isReady: probe(async () => {
        const body = (await fetchJson(`http://${where.probe}:${ports.monitorPort}/healthz`)) as
          | { status?: string }
          | undefined;
        return body?.status === 'ok';
      }),
      detached: opts.detached,
      logFile: opts.logFile,
      tempDir: owned ? dir : undefined,
    });
  try {
    const { ports, process } = await launchWithPorts(
      'nats-server',
      async () => ({
        port: opts.port ?? (await freePort()),
        monitorPort: opts.monitorPort ?? (await freePort()),
      }),
      opts.port !== undefined,
      launchAt,
    );
    return new LocalNats(
      process,
      () => launchAt(ports),
      dir,
      owned,
      `nats://${where.advertise}:${ports.port}`,
      `http://${where.advertise}:${ports.monitorPort}`,
    );
  } catch (err) {
    if (owned) await rm(dir, { recursive: true, force: true });
    throw err;
  }
}
