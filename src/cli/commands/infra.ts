/**
 * `dhw infra up|down|status`: the local etcd + NATS pair the distributed mode needs, like
 * `docker compose up -d` for two services. Servers run detached on loopback with their data under `.dhw/`;
 * `up` prints the `export ETCD_ENDPOINTS=... NATS_SERVER=...` line for the other terminals.
 */
import { INSTALL_HINT } from '../../infra/errors.ts';
import {
  DEFAULT_INFRA_DIR,
  DEFAULT_INFRA_PORTS,
  infraDown,
  infraEnvLines,
  infraStatus,
  infraUp,
} from '../../infra/local-stack.ts';
import { infraUpSecure } from '../../infra/secure-stack.ts';
import { formatHelp, LOGGING_FLAGS, numberFlag, parseCommand, stringFlag, UsageError } from '../args.ts';
import type { Command } from '../command.ts';
import { applyLoggingFlags } from '../command-prologue.ts';

const FLAGS = {
  dir: { type: 'string' as const, default: DEFAULT_INFRA_DIR, help: 'where data, logs and infra.json live' },
  'etcd-port': {
    type: 'string' as const,
    default: String(DEFAULT_INFRA_PORTS.etcdPort),
    help: 'etcd client port',
  },
  'etcd-peer-port': {
    type: 'string' as const,
    default: String(DEFAULT_INFRA_PORTS.etcdPeerPort),
    help: 'etcd peer port',
  },
  'nats-port': {
    type: 'string' as const,
    default: String(DEFAULT_INFRA_PORTS.natsPort),
    help: 'NATS client port',
  },
  'nats-monitor-port': {
    type: 'string' as const,
    default: String(DEFAULT_INFRA_PORTS.natsMonitorPort),
    help: 'NATS monitoring port (/healthz, /varz)',
  },
  host: {
    type: 'string' as const,
    default: '127.0.0.1',
    help: 'up: address etcd and NATS bind (0.0.0.0 needs --advertise-host)',
  },
  'advertise-host': {
    type: 'string' as const,
    help: "up: host in the printed ETCD_ENDPOINTS / NATS_SERVER and etcd's advertised URL (default: --host)",
  },
  'no-install': { type: 'boolean' as const, help: `never run apt-get; print the install command instead` },
  purge: { type: 'boolean' as const, help: 'down: also delete the data dirs and logs' },
  secure: {
    type: 'boolean' as const,
    help: 'up: TLS + client certificates + auth on both servers; writes {dir}/cluster.json for --cluster-config',
  },
  json: { type: 'boolean' as const, help: 'status: print one JSON object' },
  ...LOGGING_FLAGS,
};
const USAGE = 'dhw infra up|down|status [--dir .dhw] [--etcd-port 2379] [--nats-port 4222] ...';
const DESCRIPTION =
  'Run a local etcd (discovery) and nats-server with JetStream (events) on 127.0.0.1, detached, data under .dhw/.\n' +
  `Missing servers are installed with apt-get when running as root; otherwise: ${INSTALL_HINT}`;

const port = (values: Parameters<typeof numberFlag>[0], name: string) =>
  numberFlag(values, name, { integer: true, min: 1 }) as number;

/** `up --secure`: what started, and the one flag every member needs. */
async function upSecure(dir: string, values: Parameters<typeof numberFlag>[0]): Promise<number> {
  const { record, alreadyRunning } = await infraUpSecure(dir, {
    allowInstall: !values['no-install'],
    host: stringFlag(values, 'host'),
    advertiseHost: stringFlag(values, 'advertise-host'),
    etcdPort: port(values, 'etcd-port'),
    etcdPeerPort: port(values, 'etcd-peer-port'),
    natsPort: port(values, 'nats-port'),
    natsMonitorPort: port(values, 'nats-monitor-port'),
  });
  const config = record.secure?.clusterConfig ?? '';
  console.log(alreadyRunning ? 'Already running (secure):' : 'Started (secure):');
  console.log(
    `  etcd         ${record.etcd.endpoint}   TLS, client certificates, RBAC (pid ${record.etcd.pid})`,
  );
  console.log(
    `  nats-server  ${record.nats.url}   TLS, client certificates, user auth (pid ${record.nats.pid})`,
  );
  console.log(`\nMembers' credentials (mode 0600; give it only to cluster members): ${config}`);
  console.log('Start every dhw process with it:');
  console.log(`  export DYN_CLUSTER_CONFIG=${config}`);
  console.log('  (or --cluster-config FILE on dhw worker / frontend / serve / ls / events)');
  return 0;
}
const portsFrom = (values: Parameters<typeof numberFlag>[0]) => ({
  etcdPort: port(values, 'etcd-port'),
  etcdPeerPort: port(values, 'etcd-peer-port'),
  natsPort: port(values, 'nats-port'),
  natsMonitorPort: port(values, 'nats-monitor-port'),
});

export const infraCommand: Command = {
  name: 'infra',
  summary: 'start/stop/check local etcd + NATS: `dhw infra up|down|status`',
  async run(argv) {
    const { values, positionals } = parseCommand(argv, FLAGS);
    const [sub] = positionals;
    if (values.help || !sub) {
      console.log(formatHelp(USAGE, DESCRIPTION, FLAGS));
      return values.help ? 0 : 2;
    }
    applyLoggingFlags(values);
    const dir = stringFlag(values, 'dir') ?? DEFAULT_INFRA_DIR;
    switch (sub) {
      case 'up': {
        if (values.secure) return upSecure(dir, values);
        const { record, alreadyRunning, started } = await infraUp(dir, {
          allowInstall: !values['no-install'],
          host: stringFlag(values, 'host'),
          advertiseHost: stringFlag(values, 'advertise-host'),
          ports: portsFrom(values),
        });
        console.log(alreadyRunning ? 'Already running:' : `Started ${started.join(' and ')}:`);
        const owner = (pid: number | null) =>
          pid === null ? 'not started by dhw; left alone' : `pid ${pid}`;
        const etcdLog = record.etcd.logFile ? `, log ${record.etcd.logFile}` : '';
        console.log(`  etcd         ${record.etcd.endpoint}   (${owner(record.etcd.pid)}${etcdLog})`);
        console.log(
          `  nats-server  ${record.nats.url}   (${owner(record.nats.pid)}, monitor ${record.nats.monitorUrl})`,
        );
        console.log('\nPoint dhw processes at them:');
        console.log(`  ${infraEnvLines(record)}`);
        console.log(`\nInspect: etcdctl --endpoints=${record.etcd.endpoint} get --prefix /dynamo`);
        return 0;
      }
      case 'down': {
        const stopped = await infraDown(dir, { purge: Boolean(values.purge) });
        console.log(stopped.length ? `Stopped ${stopped.join(', ')}` : 'Nothing was running.');
        if (values.purge) console.log(`Removed data and logs under ${dir}/`);
        return 0;
      }
      case 'status': {
        const { record, servers } = await infraStatus(dir, {
          host: stringFlag(values, 'host'),
          ports: portsFrom(values),
        });
        if (values.json) {
          console.log(JSON.stringify({ servers, env: record ? infraEnvLines(record) : undefined }));
        } else {
          for (const s of servers) {
            const where = `${s.endpoint ?? ''}${s.pid === undefined ? '' : `  pid ${s.pid}`}`;
            console.log(`${s.name.padEnd(12)} ${(s.up ? 'up' : 'down').padEnd(5)} ${where}  ${s.detail}`);
          }
          if (record && servers.every((s) => s.up)) console.log(`\n${infraEnvLines(record)}`);
        }
        return servers.every((s) => s.up) ? 0 : 1;
      }
      default:
        throw new UsageError(`unknown subcommand "infra ${sub}"; available: up, down, status`);
    }
  },
};
