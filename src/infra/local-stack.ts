/**
 * `dhw infra up|down|status` without the printing: a local etcd + NATS (JetStream) pair that outlives the
 * command, recorded in `{dir}/infra.json` (dir defaults to `.dhw/` in the working directory). Like a tiny
 * docker-compose: `up` is idempotent, `down` stops by the recorded pids, `status` probes health.
 *
 *   .dhw/infra.json     pids, ports, endpoints
 *   .dhw/etcd/          etcd data      .dhw/etcd.log
 *   .dhw/nats/          JetStream data .dhw/nats.log
 */
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { InfraError } from './errors.ts';
import {
  type EtcdServer,
  fetchJson,
  type NatsServer,
  type ServerTls,
  startEtcd,
  startNats,
} from './local-servers.ts';
import { isProcessAlive, stopPid } from './server-process.ts';

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
  pid: number;
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
  if (!isProcessAlive(server.pid)) return false;
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

export async function infraStatus(dir: string): Promise<{ record?: InfraRecord; servers: ServerStatus[] }> {
  const record = readInfraRecord(dir);
  if (!record) {
    return {
      servers: [
        { name: 'etcd', up: false, detail: 'not started by dhw (no infra.json)' },
        { name: 'nats-server', up: false, detail: 'not started by dhw (no infra.json)' },
      ],
    };
  }
  const etcdHealth = isOurServer(record.etcd)
    ? record.secure
      ? ((await fetchJson(`${record.etcd.endpoint}/health`, record.secure.tls).catch(() => undefined)) as
          | Record<string, unknown>
          | undefined)
      : await probeJson(`${record.etcd.endpoint}/health`)
    : undefined;
  const natsHealth = isOurServer(record.nats)
    ? await probeJson(`${record.nats.monitorUrl}/healthz`)
    : undefined;
  const describe = (alive: boolean, healthy: boolean, log: string) =>
    healthy ? 'healthy' : alive ? `running but not healthy (see ${log})` : `not running (see ${log})`;
  return {
    record,
    servers: [
      {
        name: 'etcd',
        up: etcdHealth?.health === 'true',
        pid: record.etcd.pid,
        endpoint: record.etcd.endpoint,
        detail: describe(isOurServer(record.etcd), etcdHealth?.health === 'true', record.etcd.logFile),
      },
      {
        name: 'nats-server',
        up: natsHealth?.status === 'ok',
        pid: record.nats.pid,
        endpoint: record.nats.url,
        detail: describe(isOurServer(record.nats), natsHealth?.status === 'ok', record.nats.logFile),
      },
    ],
  };
}

/** Stop the servers recorded in `dir` (data is kept unless `purge`). Returns what was stopped. */
export async function infraDown(dir: string, opts: { purge?: boolean } = {}): Promise<string[]> {
  const record = readInfraRecord(dir);
  const stopped: string[] = [];
  if (record) {
    for (const server of [record.etcd, record.nats]) {
      if (!isOurServer(server)) continue;
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

/**
 * Start etcd and nats-server detached (or report the ones already up). If one fails to start, the other
 * is stopped again so `up` never leaves half a stack behind.
 */
export async function infraUp(
  dir: string,
  opts: { ports?: Partial<InfraPorts>; allowInstall?: boolean; host?: string; advertiseHost?: string } = {},
): Promise<{ record: InfraRecord; alreadyRunning: boolean }> {
  const existing = await infraStatus(dir);
  if (existing.record && existing.servers.every((s) => s.up))
    return { record: existing.record, alreadyRunning: true };
  if (existing.record) await infraDown(dir); // half up or stale: start clean (data is kept)
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
  let etcd: EtcdServer | undefined;
  let nats: NatsServer | undefined;
  try {
    etcd = await startEtcd({
      ...common,
      dataDir: join(root, 'etcd'),
      logFile: etcdLog,
      port: ports.etcdPort,
      peerPort: ports.etcdPeerPort,
    });
    nats = await startNats({
      ...common,
      dataDir: join(root, 'nats'),
      logFile: natsLog,
      port: ports.natsPort,
      monitorPort: ports.natsMonitorPort,
    });
  } catch (err) {
    await etcd?.stop();
    throw err;
  }
  const record: InfraRecord = {
    startedAt: new Date().toISOString(),
    etcd: { pid: etcd.pid, binary: 'etcd', dataDir: etcd.dataDir, logFile: etcdLog, endpoint: etcd.endpoint },
    nats: {
      pid: nats.pid,
      binary: 'nats-server',
      dataDir: nats.dataDir,
      logFile: natsLog,
      url: nats.url,
      monitorUrl: nats.monitorUrl,
    },
  };
  await writeFile(infraRecordPath(dir), `${JSON.stringify(record, null, 2)}\n`);
  return { record, alreadyRunning: false };
}

/** The lines a shell `eval`s to point every dhw process at this stack. */
export function infraEnvLines(record: InfraRecord): string {
  const secure = record.secure ? ` DYN_CLUSTER_CONFIG=${record.secure.clusterConfig}` : '';
  return `export ETCD_ENDPOINTS=${record.etcd.endpoint} NATS_SERVER=${record.nats.url}${secure}`;
}
