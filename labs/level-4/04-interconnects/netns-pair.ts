/**
 * Two emulated "nodes" joined by one emulated link: two Linux network namespaces (`dhwlab-PID-a`, `-b`), a
 * veth pair between them (10.213.0.1 ↔ 10.213.0.2, MTU 1500), and a `tc tbf` token bucket on each end to set
 * the line rate. Like plugging two servers into one switch port pair and choosing the port speed.
 *
 * Only interfaces this file creates are touched: both veth ends live inside our namespaces, the host's own
 * interfaces and routes are never changed, and `destroy()` (also run at process exit) deletes the namespaces,
 * which deletes the veth pair with them. Needs root (CAP_NET_ADMIN); `whyNoNamespaces()` says what is missing.
 *
 * There is no `netem` in this kernel, so a link here has a rate but no added delay: its latency is the
 * kernel's own (veth + two TCP stacks), measured by the lab. `dhw cluster up --link RATE,LATENCY` adds
 * latency in user space where a test needs it.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { parseLinkSpec } from '../../../src/util/link-spec.ts';

export interface Endpoint {
  /** Shown in tables: "loopback", "dhwlab-123-a". */
  label: string;
  /** The address a peer dials to reach a server started here. */
  address: string;
  /** Prefix that runs a command inside this endpoint: [] for the host, ['ip', 'netns', 'exec', NAME]. */
  exec: string[];
}

export const LOOPBACK: Endpoint = { label: 'loopback', address: '127.0.0.1', exec: [] };

const ip = (...args: string[]) => execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
const tc = (...args: string[]) => execFileSync('tc', args, { stdio: ['ignore', 'ignore', 'pipe'] });

/** Why this process cannot create namespaces (undefined = it can): not root, or `ip`/`tc` missing. */
export function whyNoNamespaces(): string | undefined {
  if (process.getuid?.() !== 0)
    return 'needs root (CAP_NET_ADMIN) to create network namespaces: run it as root (CI does) or with sudo';
  for (const tool of ['ip', 'tc']) {
    const probe = spawnSync(tool, ['-V'], { stdio: 'ignore' });
    if (probe.error) return `\`${tool}\` is not installed: sudo apt-get install -y iproute2`;
  }
  return undefined;
}

/** "1gbit" → a tbf burst big enough to refill within one timer tick at that rate (≥ 64 KiB). */
function burstBytes(rateBitsPerSecond: number): number {
  return Math.max(64 * 1024, Math.ceil((rateBitsPerSecond / 8) * 0.002));
}

/** tc's rate strings ("500mbit", "1gbit", "10gbit") in bits per second, read by util/link-spec.ts. */
export function rateBitsPerSecond(rate: string): number {
  return parseLinkSpec(rate).bytesPerSecond * 8;
}

export class NamespacePair {
  readonly a: Endpoint;
  readonly b: Endpoint;
  private readonly names: [string, string];
  private readonly ifaces: [string, string];
  private destroyed = false;
  private readonly onExit = () => this.destroy();

  /** Creates both namespaces and the veth pair, unshaped. Throws with the `ip` error if that fails. */
  constructor(tag = String(process.pid)) {
    this.names = [`dhwlab-${tag}-a`, `dhwlab-${tag}-b`];
    // Interface names are limited to 15 bytes: "dhwlab-" + pid (≤ 7 digits) + a/b.
    this.ifaces = [`dhwlab-${tag}a`.slice(0, 15), `dhwlab-${tag}b`.slice(0, 15)];
    const addresses = ['10.213.0.1', '10.213.0.2'];
    process.once('exit', this.onExit);
    try {
      for (const ns of this.names) ip('netns', 'add', ns);
      ip('link', 'add', this.ifaces[0], 'type', 'veth', 'peer', 'name', this.ifaces[1]);
      for (const i of [0, 1] as const) {
        const [ns, dev] = [this.names[i], this.ifaces[i]];
        ip('link', 'set', dev, 'netns', ns);
        ip('-n', ns, 'addr', 'add', `${addresses[i]}/24`, 'dev', dev);
        ip('-n', ns, 'link', 'set', dev, 'up');
        ip('-n', ns, 'link', 'set', 'lo', 'up');
      }
    } catch (err) {
      this.destroy();
      throw new Error(`could not create namespaces ${this.names.join(', ')}: ${stderrOf(err)}`);
    }
    const endpoint = (i: 0 | 1): Endpoint => ({
      label: this.names[i],
      address: addresses[i] as string,
      exec: ['ip', 'netns', 'exec', this.names[i]],
    });
    this.a = endpoint(0);
    this.b = endpoint(1);
  }

  /** Sets both directions to `rate` with tbf ("1gbit"), or removes shaping ("unshaped"). */
  shape(rate: string): void {
    for (const i of [0, 1] as const) {
      const [ns, dev] = [this.names[i], this.ifaces[i]];
      spawnSync('tc', ['-n', ns, 'qdisc', 'del', 'dev', dev, 'root'], { stdio: 'ignore' }); // none yet is fine
      if (rate === 'unshaped') continue;
      const bits = rateBitsPerSecond(rate);
      tc(
        '-n',
        ns,
        'qdisc',
        'add',
        'dev',
        dev,
        'root',
        'tbf',
        'rate',
        rate,
        'burst',
        String(burstBytes(bits)),
        'latency',
        '20ms',
      );
    }
  }

  /** Sets the MTU of both veth ends (1500 after creation; 576 is the smallest IPv4 packet every host accepts). */
  setMtu(mtu: number): void {
    for (const i of [0, 1] as const)
      ip('-n', this.names[i], 'link', 'set', 'dev', this.ifaces[i], 'mtu', String(mtu));
  }

  /** `tc qdisc show` of side a, for the lab to print what was configured. */
  describe(): string {
    return execFileSync('tc', ['-n', this.names[0], 'qdisc', 'show', 'dev', this.ifaces[0]], {
      encoding: 'utf8',
    }).trim();
  }

  /** Deletes both namespaces (and with them the veth pair). Safe to call twice; never throws. */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    process.removeListener('exit', this.onExit);
    for (const ns of this.names) spawnSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
    // A veth end still in the host namespace (creation failed before the move) is ours too: remove it.
    for (const dev of this.ifaces) spawnSync('ip', ['link', 'del', dev], { stdio: 'ignore' });
  }
}

function stderrOf(err: unknown): string {
  const stderr = (err as { stderr?: Buffer }).stderr?.toString().trim();
  return stderr || (err as Error).message;
}
