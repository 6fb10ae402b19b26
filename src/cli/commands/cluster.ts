/**
 * `dhw cluster up|down|status|run|link`: N emulated nodes on this machine, each a Linux network namespace with
 * one address on a shared bridge, links shaped with tc, etcd and NATS in node 0. Like `kind` for our stack:
 * real sockets between real network stacks, on one host. The logic lives in src/cluster/.
 */
import {
  ClusterError,
  clusterStatus,
  DEFAULT_CLUSTER_NAME,
  DEFAULT_STATE_ROOT,
  downCluster,
  parseNodeIndex,
  requireCluster,
  runInNode,
  setNodeLink,
  startDelayProxy,
  upCluster,
} from '../../cluster/index.ts';
import { parseLinkSpec } from '../../util/link-spec.ts';
import { untilSignal } from '../signals.ts';
import { formatHelp, LOGGING_FLAGS, numberFlag, parseCommand, stringFlag, UsageError } from '../args.ts';
import type { Command } from '../command.ts';
import { applyLoggingFlags } from '../command-prologue.ts';

const FLAGS = {
  nodes: { type: 'string' as const, default: '3', help: 'up: how many nodes (node 0 runs etcd and NATS)' },
  link: {
    type: 'string' as const,
    help:
      'up: RATE[,LATENCY] per link, e.g. 1gbit,2ms. RATE is enforced in the kernel (tc tbf, both directions); ' +
      'LATENCY is NOT added by the kernel (no netem here): it is recorded and applied in user space only by ' +
      '`dhw cluster delay-proxy` (see src/cluster/README.md)',
  },
  mtu: { type: 'string' as const, default: '1500', help: 'up: MTU of every link' },
  subnet: { type: 'string' as const, default: '10.77.0', help: 'up: the /24 (node i gets .i+1)' },
  'no-servers': { type: 'boolean' as const, help: 'up: do not start etcd and NATS in node 0' },
  name: {
    type: 'string' as const,
    default: DEFAULT_CLUSTER_NAME,
    help: 'cluster name: "dhw" or "dhw-SUFFIX"; namespaces are NAME-n0.., NAME-br',
  },
  'state-dir': {
    type: 'string' as const,
    default: DEFAULT_STATE_ROOT,
    help: 'where cluster.json, etcd/NATS data and logs live',
  },
  listen: {
    type: 'string' as const,
    help: 'delay-proxy: HOST:PORT to listen on (inside the node it runs in)',
  },
  to: { type: 'string' as const, help: 'delay-proxy: HOST:PORT to relay to' },
  delay: {
    type: 'string' as const,
    help: 'delay-proxy: one-way delay added in each direction, e.g. 2ms, 500us',
  },
  json: { type: 'boolean' as const, help: 'up, status: print one JSON object' },
  ...LOGGING_FLAGS,
};

const USAGE = [
  'dhw cluster up --nodes N [--link RATE[,LATENCY]] [--mtu 1500] [--name dhw]',
  '       dhw cluster run NODE -- COMMAND...      (e.g. dhw cluster run 1 -- dhw worker --discovery etcd --events nats --host 10.77.0.2)',
  "       dhw cluster link NODE down|up           (pull / plug node NODE's cable)",
  '       dhw cluster delay-proxy --listen HOST:PORT --to HOST:PORT --delay 2ms   (user-space latency; run it in a node)',
  '       dhw cluster status | down',
].join('\n');

const DESCRIPTION = [
  'Emulated nodes on this machine: each node is a network namespace (NAME-nI) with eth0 = 10.77.0.(I+1)/24,',
  'cabled by a veth pair to a bridge in its own namespace (NAME-br). The host gets no address on the subnet,',
  'so traffic stays inside these namespaces. etcd (:2379) and nats-server -js (:4222) run in node 0;',
  '`run` starts a command in a node with ETCD_ENDPOINTS/NATS_SERVER set to them (a first word `dhw` runs',
  "this checkout's CLI). Link RATE is shaped with tc tbf; this kernel has no netem, so LATENCY is only",
  'emulated in user space by `dhw cluster delay-proxy` (a TCP relay that holds each chunk LATENCY ms).',
  'Needs root (CAP_NET_ADMIN and CAP_SYS_ADMIN). `down` stops every process in the namespaces and deletes them.',
].join('\n');

function ref(values: Record<string, string | boolean | undefined>) {
  return { name: stringFlag(values, 'name'), stateRoot: stringFlag(values, 'state-dir') };
}

/** Split `run NODE -- cmd ...` before flag parsing, so the command's own flags stay its own. */
function splitCommand(argv: string[]): { ours: string[]; command: string[] } {
  const dashes = argv.indexOf('--');
  return dashes < 0
    ? { ours: argv, command: [] }
    : { ours: argv.slice(0, dashes), command: argv.slice(dashes + 1) };
}

async function up(values: Record<string, string | boolean | undefined>): Promise<number> {
  const state = await upCluster({
    ...ref(values),
    nodes: numberFlag(values, 'nodes', { integer: true, min: 1 }) ?? 3,
    link: stringFlag(values, 'link'),
    mtu: numberFlag(values, 'mtu', { integer: true, min: 576 }),
    subnet: stringFlag(values, 'subnet'),
    controlPlane: !values['no-servers'],
  });
  if (values.json) {
    console.log(JSON.stringify(state));
    return 0;
  }
  console.log(`Cluster "${state.name}": ${state.nodes} nodes, MTU ${state.mtu}`);
  for (const [i, address] of state.addresses.entries())
    console.log(`  node ${i}  ${state.name}-n${i}  ${address}`);
  console.log(
    state.link
      ? `  links: ${state.link.spec} (rate by tc tbf both ways; ${state.link.latencyMs} ms latency only through \`dhw cluster delay-proxy\`)`
      : '  links: unshaped',
  );
  if (state.etcd) console.log(`  etcd ${state.etcd.endpoint}  nats ${state.nats?.url}  (in node 0)`);
  console.log(
    `\nRun in a node: dhw cluster run 1 -- dhw worker --discovery etcd --events nats --host ${state.addresses[1] ?? state.addresses[0]}`,
  );
  return 0;
}

async function status(values: Record<string, string | boolean | undefined>): Promise<number> {
  const report = await clusterStatus(ref(values));
  if (values.json) {
    console.log(JSON.stringify(report));
    return report.state ? 0 : 1;
  }
  if (!report.state) {
    console.log(`No cluster "${report.name}" recorded.`);
    if (report.namespaces.length)
      console.log(`Leftover namespaces: ${report.namespaces.join(', ')} (\`dhw cluster down\` removes them)`);
    return 1;
  }
  const { state } = report;
  console.log(
    `Cluster "${state.name}" (up since ${state.createdAt}); link spec: ${state.link?.spec ?? 'unshaped'}`,
  );
  for (const link of report.links) {
    console.log(
      `  node ${link.node}  ${link.namespace.padEnd(12)} ${String(link.address ?? '-').padEnd(12)} ${link.operState.padEnd(14)} mtu ${link.mtu ?? '-'}  ${link.qdisc}`,
    );
  }
  for (const server of report.servers) {
    console.log(
      `  ${server.name.padEnd(12)} ${server.endpoint}  pid ${server.pid}  ${server.healthy ? 'healthy' : 'NOT healthy'}`,
    );
  }
  return report.servers.every((s) => s.healthy) ? 0 : 1;
}

function hostPort(text: string | undefined, flag: string): { host: string; port: number } {
  const match = text ? /^(.+):(\d+)$/.exec(text) : null;
  if (!match) throw new UsageError(`--${flag} must be HOST:PORT, e.g. 10.77.0.2:7000`);
  return { host: match[1]!, port: Number(match[2]) };
}

/** A TCP relay adding the link's one-way latency (the kernel here has no netem); runs until a signal. */
async function delayProxy(values: Record<string, string | boolean | undefined>): Promise<number> {
  const listen = hostPort(stringFlag(values, 'listen'), 'listen');
  const target = hostPort(stringFlag(values, 'to'), 'to');
  const delayText = stringFlag(values, 'delay');
  if (!delayText) throw new UsageError('--delay is required, e.g. --delay 2ms');
  const { latencyMs } = parseLinkSpec(`1gbit,${delayText}`);
  const proxy = await startDelayProxy({
    listenHost: listen.host,
    listenPort: listen.port,
    targetHost: target.host,
    targetPort: target.port,
    delayMs: latencyMs,
  });
  console.log(`delay-proxy ${proxy.address} -> ${target.host}:${target.port}, +${latencyMs} ms each way`);
  await untilSignal();
  await proxy.close();
  return 0;
}

async function run(
  positionals: string[],
  command: string[],
  values: Record<string, string | boolean | undefined>,
) {
  const state = requireCluster(ref(values));
  const [nodeText] = positionals;
  if (nodeText === undefined || command.length === 0) {
    throw new UsageError(
      'write `dhw cluster run NODE -- COMMAND...`, e.g. `dhw cluster run 1 -- dhw worker`',
    );
  }
  const child = runInNode(state, parseNodeIndex(nodeText, state.nodes), command);
  const forward = (signal: NodeJS.Signals) => child.kill(signal);
  process.on('SIGINT', forward);
  process.on('SIGTERM', forward);
  return new Promise<number>((resolve, reject) => {
    child.on('error', (err) => reject(new ClusterError(`could not start ${command[0]}: ${err.message}`)));
    child.on('exit', (code, signal) => {
      process.off('SIGINT', forward);
      process.off('SIGTERM', forward);
      resolve(code ?? (signal ? 128 + 15 : 1));
    });
  });
}

export const clusterCommand: Command = {
  name: 'cluster',
  summary: 'emulated nodes as network namespaces: `dhw cluster up|run|link|status|down` (root)',
  async run(argv) {
    const { ours, command } = splitCommand(argv);
    const { values, positionals } = parseCommand(ours, FLAGS);
    const [sub, ...rest] = positionals;
    if (values.help || !sub) {
      console.log(formatHelp(USAGE, DESCRIPTION, FLAGS));
      return values.help ? 0 : 2;
    }
    applyLoggingFlags(values);
    switch (sub) {
      case 'up':
        return up(values);
      case 'status':
        return status(values);
      case 'down': {
        const report = await downCluster(ref(values));
        console.log(
          report.namespaces.length
            ? `Stopped ${report.stopped.length} process(es); deleted ${report.namespaces.join(', ')}`
            : 'Nothing to take down.',
        );
        return 0;
      }
      case 'run':
        return run(rest, command, values);
      case 'delay-proxy':
        return delayProxy(values);
      case 'link': {
        const state = requireCluster(ref(values));
        const [nodeText, direction] = rest;
        if (nodeText === undefined || (direction !== 'up' && direction !== 'down')) {
          throw new UsageError('write `dhw cluster link NODE down` or `dhw cluster link NODE up`');
        }
        await setNodeLink(state.name, parseNodeIndex(nodeText, state.nodes), direction);
        console.log(`node ${nodeText}'s link is ${direction}`);
        return 0;
      }
      default:
        throw new UsageError(
          `unknown subcommand "cluster ${sub}"; available: up, run, link, delay-proxy, status, down`,
        );
    }
  },
};
