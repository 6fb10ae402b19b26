/**
 * The operator's side of Lab 3.5: the `dhw` commands a learner types in a terminal (`infra up`, `ls`,
 * `doctor`, `infra down`), run as child processes and echoed with their output, plus `curl …/metrics | grep`.
 * Like a runbook whose every command is executed and its answer pasted under it.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { freePort } from '../../../src/infra/local-servers.ts';
import { repoRoot } from '../../../src/util/paths.ts';
import { note } from '../../lib/lab-kit.ts';

const DHW = join(repoRoot, 'bin', 'dhw.mjs');

/** Runs `dhw ARGS` to completion, prints the command and its output; returns the output and exit status. */
export function runDhw(
  args: readonly string[],
  opts: { quiet?: boolean } = {},
): { out: string; status: number } {
  if (!opts.quiet) note(`$ dhw ${args.join(' ')}`);
  const result = spawnSync(process.execPath, [DHW, ...args], { encoding: 'utf8', timeout: 60_000 });
  const out = `${result.stdout ?? ''}${result.stderr ?? ''}`.trimEnd();
  if (!opts.quiet) for (const line of out.split('\n')) note(`  ${line}`);
  return { out, status: result.status ?? 1 };
}

/** Where `dhw infra up` puts its servers: free loopback ports, so the lab never collides with your own `.dhw`. */
export interface InfraPlan {
  dir: string;
  etcdPort: number;
  etcdPeerPort: number;
  natsPort: number;
  natsMonitorPort: number;
}

export async function planInfra(dir: string): Promise<InfraPlan> {
  const ports: number[] = [];
  while (ports.length < 4) {
    const port = await freePort();
    if (!ports.includes(port)) ports.push(port);
  }
  const [etcdPort, etcdPeerPort, natsPort, natsMonitorPort] = ports as [number, number, number, number];
  return { dir, etcdPort, etcdPeerPort, natsPort, natsMonitorPort };
}

export function infraUpArgs(plan: InfraPlan): string[] {
  return [
    ...['infra', 'up', '--dir', plan.dir, '--no-install'],
    ...['--etcd-port', String(plan.etcdPort), '--etcd-peer-port', String(plan.etcdPeerPort)],
    ...['--nats-port', String(plan.natsPort), '--nats-monitor-port', String(plan.natsMonitorPort)],
  ];
}

/** The `export ETCD_ENDPOINTS=… NATS_SERVER=…` values `infra up` printed. */
export function parseInfraEnv(out: string): { etcd: string; nats: string } {
  const match = /export ETCD_ENDPOINTS=(\S+) NATS_SERVER=(\S+)/.exec(out);
  if (!match) throw new Error(`dhw infra up printed no export line:\n${out}`);
  return { etcd: match[1] as string, nats: match[2] as string };
}

/** `curl -s URL/metrics | grep PATTERN`: the matching sample lines (no comments, no histogram buckets). */
export async function metricLines(url: string, pattern: RegExp): Promise<string[]> {
  const text = await (await fetch(`${url}/metrics`)).text();
  return text.split('\n').filter((l) => !l.startsWith('#') && !l.includes('_bucket{') && pattern.test(l));
}
