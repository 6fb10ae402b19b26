/**
 * `dhw doctor`'s checks for the failures that appear once components sit on different machines (or
 * emulated nodes, `dhw cluster`): an advertised address others cannot dial, a link that is down or drops
 * full-size packets (an MTU mismatch), and a clock far from the servers'. Like the questions a network
 * engineer asks before blaming the application: can I route there, does a big packet get through, and do we
 * agree on the time?
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { isWildcardHost } from '../../util/advertise-host.ts';
import type { CheckResult } from './doctor-result.ts';

const PROBE_TIMEOUT_MS = 1500;
/** Bigger than any MTU in use (jumbo frames are 9000 B): a response this long needs full-size segments. */
const BIG_RESPONSE_BYTES = 16 * 1024;

export function hostOf(address: string): string {
  const match = /^\[?([^\]]+?)\]?:\d+$/.exec(address);
  return match ? match[1]! : address;
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host.startsWith('127.') || host === '::1';
}

/**
 * Why an advertised address does not answer, and what to do, from the probe's error code. ECONNREFUSED on a
 * loopback address usually means the worker published 127.0.0.1 from another machine or namespace.
 */
export function explainUnreachable(address: string, error: string | undefined, pid?: number): string {
  const host = hostOf(address);
  if (isWildcardHost(host)) {
    return 'the worker advertised a wildcard address nobody can dial: restart it with --advertise-host ADDR';
  }
  if (isLoopback(host)) {
    return (
      `${host} is loopback: only processes in the worker's own machine/namespace reach it. If the worker ` +
      'runs elsewhere, restart it with --host (or --advertise-host) set to an address of its node, e.g. ' +
      '--host 10.77.0.3; else the worker (pid ' +
      `${pid ?? '?'}) died or hangs: \`ss -tlnp | grep ${address.split(':').pop()}\``
    );
  }
  if (error === 'EHOSTUNREACH' || error === 'ENETUNREACH' || error === 'timeout') {
    return (
      `no route to ${host} from here (${error}): its link may be down or the address on another subnet. ` +
      `Check \`ip route get ${host}\`, \`ip link\` (state UP?), \`dhw cluster status\` for emulated nodes, and ` +
      'that the worker advertises the address other nodes use (--advertise-host)'
    );
  }
  return (
    `${host} is reachable but nothing listens on ${address}: the worker died or binds another address ` +
    `(--host). Its keys go when its lease expires; restart it, and compare \`ss -tlnp\` on its node`
  );
}

/**
 * A worker that advertises loopback while discovery is reached over the network: fine only if every
 * frontend runs on the worker's own machine. Found even when a probe from here "succeeds" (it would be
 * talking to this machine's loopback, not the worker's).
 */
export function checkAdvertisedScope(
  instances: { instanceId: string; transport: { tcp: string } }[],
  etcdEndpoint: string | undefined,
): CheckResult[] {
  if (!etcdEndpoint) return [];
  let registryHost: string;
  try {
    registryHost = new URL(etcdEndpoint).hostname;
  } catch {
    return [];
  }
  if (isLoopback(registryHost)) return [];
  return instances
    .filter((i) => isLoopback(hostOf(i.transport.tcp)))
    .map((i) => ({
      section: 'registration',
      name: `advertise ${i.instanceId}`,
      status: 'warn' as const,
      detail: `advertises ${i.transport.tcp} (loopback) while etcd is at ${registryHost}: other machines cannot dial it`,
      fix: 'restart the worker with --host ADDR or --advertise-host ADDR (an address of its node others reach)',
    }));
}

function run(file: string, args: string[]): Promise<{ code: number; stdout: string }> {
  return new Promise((resolve) => {
    execFile(file, args, { timeout: 3000 }, (err, stdout) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 127) : 0, stdout: String(stdout) });
    });
  });
}

export interface RouteInfo {
  host: string;
  dev: string;
  mtu?: number;
  operState?: string;
}

/** The interface this machine uses to reach `host` (`ip -j route get`), its MTU and state (/sys). */
export async function routeTo(host: string): Promise<RouteInfo | undefined> {
  const route = await run('ip', ['-j', 'route', 'get', host]);
  if (route.code !== 0) return undefined;
  const [entry] = JSON.parse(route.stdout) as { dev?: string }[];
  if (!entry?.dev) return undefined;
  const read = (file: string) => {
    try {
      return readFileSync(`/sys/class/net/${entry.dev}/${file}`, 'utf8').trim();
    } catch {
      return undefined;
    }
  };
  const mtu = read('mtu');
  return { host, dev: entry.dev, mtu: mtu ? Number(mtu) : undefined, operState: read('operstate') };
}

/**
 * For each peer host (etcd, NATS, every worker): the route from here, and whether its interface is up.
 * `ip route get` missing (not Linux, no iproute2) skips the check instead of failing it.
 */
export async function checkLinks(hosts: string[], section: string): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  for (const host of [...new Set(hosts)].filter((h) => !isWildcardHost(h))) {
    const route = await routeTo(host);
    if (!route) {
      results.push({
        section,
        name: `route to ${host}`,
        status: 'skip',
        detail: '`ip route get` gave no answer (no iproute2, or no route at all)',
      });
      continue;
    }
    // lo reports "unknown"; a veth or NIC whose cable is out reports "down" or "lowerlayerdown".
    const up = route.operState === 'up' || route.operState === 'unknown';
    results.push(
      up
        ? {
            section,
            name: `route to ${host}`,
            status: 'ok',
            detail: `via ${route.dev} (mtu ${route.mtu ?? '?'}, ${route.operState})`,
          }
        : {
            section,
            name: `route to ${host}`,
            status: 'fail',
            detail: `via ${route.dev}, which is ${route.operState}: the link is down, so leases of workers behind it expire`,
            fix: `bring the link up (\`ip link set ${route.dev} up\`, check the cable/switch port; emulated: \`dhw cluster link NODE up\`)`,
          },
    );
  }
  return results;
}

/**
 * The MTU black-hole probe: a worker whose request port accepts a connection (small packets pass) but whose
 * /metrics (many full-size segments) never arrives has a path that drops big packets: MTUs that differ along
 * the way (jumbo frames on the hosts, 1500 on the switch) with the "fragmentation needed" ICMP lost.
 */
export async function checkBigPackets(
  instances: { instanceId: string; transport: { tcp: string }; systemPort?: number }[],
): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  for (const instance of instances) {
    if (instance.systemPort === undefined) continue;
    const host = hostOf(instance.transport.tcp);
    const url = `http://${host.includes(':') ? `[${host}]` : host}:${instance.systemPort}/metrics`;
    const name = `big packets to ${host}`;
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(PROBE_TIMEOUT_MS * 2) });
      const bytes = (await res.arrayBuffer()).byteLength;
      results.push({
        section: 'registration',
        name,
        status: 'ok',
        detail: `${bytes} B of /metrics arrived${bytes < BIG_RESPONSE_BYTES ? ' (a short answer: proves less)' : ''}`,
      });
    } catch (err) {
      const code = (err as { name?: string; cause?: { code?: string } }).cause?.code ?? (err as Error).name;
      if (code !== 'TimeoutError') continue; // refused or unroutable: the instance checks say why
      const route = await routeTo(host);
      results.push({
        section: 'registration',
        name,
        status: 'fail',
        detail:
          `connections to ${host} open, but ${url} never arrived: full-size packets are dropped on the way ` +
          `(MTU mismatch; this side's ${route?.dev ?? 'interface'} has mtu ${route?.mtu ?? '?'})`,
        fix:
          'make the MTU equal along the path (`ip link set DEV mtu 1500` on both hosts, or raise it on the ' +
          'switch); check with `ping -M do -s 1472 HOST` (1500) or `-s 8972` (9000)',
      });
    }
  }
  return results;
}

export interface ClockReading {
  source: string;
  /** Server time minus this machine's time, ms (positive: the server is ahead). */
  skewMs: number;
  /** How much of it could be measurement: half the round trip plus the source's resolution. */
  uncertaintyMs: number;
}

/** Skew from a server timestamp read between two local readings (NTP's offset, one sample). */
export function clockReading(
  source: string,
  sentMs: number,
  receivedMs: number,
  serverMs: number,
  resolutionMs: number,
): ClockReading {
  const localMidpoint = (sentMs + receivedMs) / 2;
  return {
    source,
    skewMs: serverMs - localMidpoint,
    uncertaintyMs: (receivedMs - sentMs) / 2 + resolutionMs,
  };
}

/** etcd's HTTP `Date` header (whole seconds) on /version. */
async function readEtcdClock(endpoint: string): Promise<ClockReading | undefined> {
  const sent = Date.now();
  try {
    const res = await fetch(`${endpoint}/version`, { signal: AbortSignal.timeout(PROBE_TIMEOUT_MS) });
    const received = Date.now();
    const date = res.headers.get('date');
    await res.arrayBuffer();
    // A Date header is truncated to the second: the server's clock is somewhere in [date, date + 1 s).
    return date
      ? clockReading(`etcd ${endpoint} (HTTP Date)`, sent, received, Date.parse(date) + 500, 500)
      : undefined;
  } catch {
    return undefined;
  }
}

/** nats-server's monitoring /varz `now` (nanoseconds), on the monitor port (default 8222) of NATS's host. */
async function readNatsClock(natsUrl: string, monitorPort: number): Promise<ClockReading | undefined> {
  let host: string;
  try {
    host = new URL(natsUrl.split(',')[0]!.trim()).hostname;
  } catch {
    return undefined;
  }
  const url = `http://${host}:${monitorPort}/varz`;
  const sent = Date.now();
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(PROBE_TIMEOUT_MS) });
    const received = Date.now();
    const body = (await res.json()) as { now?: string };
    const serverMs = body.now ? Date.parse(body.now) : Number.NaN;
    return Number.isFinite(serverMs)
      ? clockReading(`NATS ${url} (varz now)`, sent, received, serverMs, 1)
      : undefined;
  } catch {
    return undefined;
  }
}

/** Judge one reading: warn past 1 s of certain skew, fail past 5 s (half the default 10 s lease TTL). */
export function judgeClock(reading: ClockReading): CheckResult {
  const certain = Math.max(0, Math.abs(reading.skewMs) - reading.uncertaintyMs);
  const detail =
    `${reading.source}: ${reading.skewMs >= 0 ? 'ahead of' : 'behind'} this machine by ` +
    `${Math.abs(reading.skewMs).toFixed(0)} ms (± ${reading.uncertaintyMs.toFixed(0)} ms)`;
  const base = { section: 'connectivity', name: 'clock skew' };
  if (certain <= 1000) return { ...base, status: 'ok', detail };
  return {
    ...base,
    status: certain > 5000 ? 'fail' : 'warn',
    detail,
    fix:
      'synchronise the clocks (`timedatectl status`, `chronyc tracking`; enable NTP). etcd counts lease TTLs on ' +
      'its own clock, but TTLs shown here, log timestamps and any deadline computed from wall time disagree ' +
      'across machines, and a clock that jumps makes keepalives look late: leases expire under live workers',
  };
}

/** Compare this machine's clock to etcd's and NATS's, where each can be read. */
export async function checkClockSkew(
  etcdEndpoint: string | undefined,
  natsUrl: string | undefined,
  natsMonitorPort = 8222,
): Promise<CheckResult[]> {
  const readings = (
    await Promise.all([
      etcdEndpoint ? readEtcdClock(etcdEndpoint) : undefined,
      natsUrl ? readNatsClock(natsUrl, natsMonitorPort) : undefined,
    ])
  ).filter((r): r is ClockReading => r !== undefined);
  if (readings.length === 0) {
    return [
      {
        section: 'connectivity',
        name: 'clock skew',
        status: 'skip',
        detail: 'no server time could be read (etcd /version Date header, NATS monitor /varz)',
      },
    ];
  }
  return readings.map(judgeClock);
}
