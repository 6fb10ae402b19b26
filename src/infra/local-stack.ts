/**
 * `dhw infra up|down|status` without the printing: a local etcd + NATS (JetStream) pair that outlives the
 * command, recorded in `{dir}/infra.json` (dir defaults to `.dhw/` in the working directory). Like a tiny
 * docker-compose: `up` is idempotent and per server (a healthy server is left alone, whoever started it),
 * `down` stops by the recorded pids only what dhw started, `status` probes health.
 *
 *   .dhw/infra.json     pids, ports, endpoints
 *   .dhw/etcd/          etcd data      .dhw/etcd.log
 *   .dhw/nats/          JetStream data .dhw/nats.log
 */
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { isWildcardHost } from '../util/advertise-host.ts';
import { isProcessAlive, processStartTicks } from '../util/process-alive.ts';
import { InfraError } from './errors.ts';
import { fetchJson, type ManagedServer, type ServerTls, startEtcd, startNats } from './local-servers.ts';
import { stopPid } from './server-process.ts';

export const DEFAULT_INFRA_DIR = '.dhw';

export interface InfraPorts {
  etcdPort: number;
  etcdPeerPort: number;
  natsPort: number;
  natsMonitorPort: number;
}

export const DEFAULT_INFRA_PORTS: InfraPorts = {
  etcdPort: 2379,
  etcdPeerPort: 2380,
  natsPort: 4222,
  natsMonitorPort: 8222,
};

interface RecordedServer {
  /** null: a healthy server this stack found already running and left alone (someone else started it). */
  pid: number | null;
  /** The pid's start time (processStartTicks): a recycled pid is never taken for ours. Absent in old records. */
  startTicks?: number;
  binary: 'etcd' | 'nats-server';
  dataDir: string;
  logFile: string;
}

export interface InfraRecord {
  startedAt: string;
  etcd: RecordedServer & { endpoint: string };
  nats: RecordedServer & { url: string; monitorUrl: string };
  /** `up --secure`: the members' cluster config, and the TLS files the health probe presents to etcd. */
  secure?: { clusterConfig: string; tls: ServerTls };
}

export interface ServerStatus {
  name: 'etcd' | 'nats-server';
  up: boolean;
  pid?: number;
  endpoint?: string;
  /** Whether `dhw infra up` started it (false: found running, left alone). */
  managed?: boolean;
  detail: string;
}

export function infraRecordPath(dir: string): string {
  return join(resolve(dir), 'infra.json');
}

export function readInfraRecord(dir: string): InfraRecord | undefined {
  const path = infraRecordPath(dir);
  if (!existsSync(path)) return undefined;
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as InfraRecord;
  } catch (err) {
    throw new InfraError(`${path} is not valid JSON; remove it and run \`dhw infra up\` again`, {
      cause: err,
    });
  }
}

/** The pid still runs the binary we started (not a recycled pid). Falls back to "alive" without /proc. */
function isOurServer(server: RecordedServer): boolean {
  if (server.pid === null || !isProcessAlive(server.pid)) return false;
  if (server.startTicks !== undefined && processStartTicks(server.pid) !== server.startTicks) return false;
  try {
    return (
      readFileSync(`/proc/${server.pid}/cmdline`, 'utf8').split('\0')[0]?.endsWith(server.binary) ?? false
    );
  } catch {
    return true;
  }
}

async function probeJson(url: string): Promise<Record<string, unknown> | undefined> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(1000) });
    return (await res.json()) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

/** Where each server is expected: the recorded endpoints, else the given (or default) ports on `host`. */
export interface InfraEndpoints {
  etcd: string;
  natsUrl: string;
  natsMonitor: string;
}

export function infraEndpoints(
  record: InfraRecord | undefined,
  opts: { ports?: Partial<InfraPorts>; host?: string } = {},
): InfraEndpoints {
  const ports = { ...DEFAULT_INFRA_PORTS, ...opts.ports };
  const host = !opts.host || isWildcardHost(opts.host) ? '127.0.0.1' : opts.host;
  return {
    etcd: record?.etcd.endpoint ?? `http://${host}:${ports.etcdPort}`,
    natsUrl: record?.nats.url ?? `nats://${host}:${ports.natsPort}`,
    natsMonitor: record?.nats.monitorUrl ?? `http://${host}:${ports.natsMonitorPort}`,
  };
}

/** etcd's /health, over TLS with the client certificate when the record says the server is secure. */
const etcdHealthy = async (endpoint: string, tls?: ServerTls) => {
  const health = tls
    ? ((await fetchJson(`${endpoint}/health`, tls).catch(() => undefined)) as
        | Record<string, unknown>
        | undefined)
    : await probeJson(`${endpoint}/health`);
  return health?.health === 'true';
};
const natsHealthy = async (monitorUrl: string) => (await probeJson(`${monitorUrl}/healthz`))?.status === 'ok';

function describe(server: RecordedServer | undefined, healthy: boolean): string {
  const log = server?.logFile ? ` (see ${server.logFile})` : '';
  if (healthy) return server?.pid != null ? 'healthy' : 'healthy (not started by dhw; left alone)';
  if (server && isOurServer(server)) return `running but not healthy${log}`;
  return server?.pid != null ? `not running${log}` : 'not running';
}

/**
 * Probe each server where the record (or, without one, the given ports) says it is. A healthy server is up
 * whoever started it: `dhw infra up` leaves one it did not start alone, and status says so.
 */
export async function infraStatus(
  dir: string,
  opts: { ports?: Partial<InfraPorts>; host?: string } = {},
): Promise<{ record?: InfraRecord; servers: ServerStatus[] }> {
  const record = readInfraRecord(dir);
  const where = infraEndpoints(record, opts);
  const [etcdUp, natsUp] = await Promise.all([
    etcdHealthy(where.etcd, record?.secure?.tls),
    natsHealthy(where.natsMonitor),
  ]);
  const entry = (
    name: ServerStatus['name'],
    server: RecordedServer | undefined,
    up: boolean,
    endpoint: string,
  ): ServerStatus => ({
    name,
    up,
    ...(server?.pid != null ? { pid: server.pid } : {}),
    endpoint,
    managed: server?.pid != null,
    detail: describe(server, up),
  });
  return {
    record,
    servers: [
      entry('etcd', record?.etcd, etcdUp, where.etcd),
      entry('nats-server', record?.nats, natsUp, where.natsUrl),
    ],
  };
}

/** Stop the servers recorded in `dir` that dhw started (data is kept unless `purge`). Returns what was stopped. */
export async function infraDown(dir: string, opts: { purge?: boolean } = {}): Promise<string[]> {
  const record = readInfraRecord(dir);
  const stopped: string[] = [];
  if (record) {
    for (const server of [record.etcd, record.nats]) {
      if (!isOurServer(server) || server.pid === null) continue;
      await stopPid(server.pid, 5000);
      stopped.push(`${server.binary} (pid ${server.pid})`);
    }
    await rm(infraRecordPath(dir), { force: true });
  }
  if (opts.purge) {
    for (const sub of ['etcd', 'nats', 'etcd.log', 'nats.log'])
      await rm(join(resolve(dir), sub), { recursive: true, force: true });
  }
  return stopped;
}

export interface InfraUpOptions {
  ports?: Partial<InfraPorts>;
  allowInstall?: boolean;
  host?: string;
  advertiseHost?: string;
}

/**
 * Make etcd and nats-server healthy, one server at a time: a healthy one is left alone (whoever started
 * it: restarting a healthy NATS because etcd died would only add an outage), an unhealthy one that dhw
 * started is stopped and started again (same data dir), a missing one is started detached. If the second
 * start fails, a server the call itself started is stopped again, so `up` never adds half a stack.
 */
export async function infraUp(
  dir: string,
  opts: InfraUpOptions = {},
): Promise<{ record: InfraRecord; alreadyRunning: boolean; started: string[] }> {
  const previous = readInfraRecord(dir);
  const where = infraEndpoints(previous, opts);
  const [etcdUp, natsUp] = await Promise.all([etcdHealthy(where.etcd), natsHealthy(where.natsMonitor)]);
  const root = resolve(dir);
  await mkdir(root, { recursive: true });
  const ports = { ...DEFAULT_INFRA_PORTS, ...opts.ports };
  const common = {
    detached: true,
    allowInstall: opts.allowInstall,
    host: opts.host,
    advertiseHost: opts.advertiseHost,
  };
  const etcdLog = join(root, 'etcd.log');
  const natsLog = join(root, 'nats.log');
  const startedNow: ManagedServer[] = [];
  const replaceOurs = async (server: RecordedServer | undefined) => {
    if (server && server.pid !== null && isOurServer(server)) await stopPid(server.pid, 5000);
  };
  try {
    let etcd: InfraRecord['etcd'];
    if (etcdUp) etcd = previous?.etcd ?? { ...foundRunning('etcd'), endpoint: where.etcd };
    else {
      await replaceOurs(previous?.etcd);
      const server = await startEtcd({
        ...common,
        dataDir: join(root, 'etcd'),
        logFile: etcdLog,
        port: ports.etcdPort,
        peerPort: ports.etcdPeerPort,
      });
      startedNow.push(server);
      etcd = {
        pid: server.pid,
        startTicks: processStartTicks(server.pid),
        binary: 'etcd',
        dataDir: server.dataDir,
        logFile: etcdLog,
        endpoint: server.endpoint,
      };
    }
    let nats: InfraRecord['nats'];
    if (natsUp)
      nats = previous?.nats ?? {
        ...foundRunning('nats-server'),
        url: where.natsUrl,
        monitorUrl: where.natsMonitor,
      };
    else {
      await replaceOurs(previous?.nats);
      const server = await startNats({
        ...common,
        dataDir: join(root, 'nats'),
        logFile: natsLog,
        port: ports.natsPort,
        monitorPort: ports.natsMonitorPort,
      });
      startedNow.push(server);
      nats = {
        pid: server.pid,
        startTicks: processStartTicks(server.pid),
        binary: 'nats-server',
        dataDir: server.dataDir,
        logFile: natsLog,
        url: server.url,
        monitorUrl: server.monitorUrl,
      };
    }
    const record: InfraRecord = { startedAt: previous?.startedAt ?? new Date().toISOString(), etcd, nats };
    await writeFile(infraRecordPath(dir), `${JSON.stringify(record, null, 2)}\n`);
    const started = [...(etcdUp ? [] : ['etcd']), ...(natsUp ? [] : ['nats-server'])];
    return { record, alreadyRunning: started.length === 0, started };
  } catch (err) {
    for (const server of startedNow) await server.stop();
    throw err;
  }
}

function foundRunning(binary: RecordedServer['binary']): RecordedServer {
  return { pid: null, binary, dataDir: '', logFile: '' };
}

/** The lines a shell `eval`s to point every dhw process at this stack. */
export function infraEnvLines(record: InfraRecord): string {
  const secure = record.secure ? ` DYN_CLUSTER_CONFIG=${record.secure.clusterConfig}` : '';
  return `export ETCD_ENDPOINTS=${record.etcd.endpoint} NATS_SERVER=${record.nats.url}${secure}`;
}
