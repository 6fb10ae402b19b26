/**
 * Running `ip` and `tc` (iproute2), the tools that build the emulated network, and checking up front that
 * this process may use them. The kernel answers a missing capability with a bare "Operation not permitted";
 * we say which capability and how to get it instead.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { ClusterError } from './errors.ts';

/** Bit numbers in /proc/self/status's CapEff (linux/capability.h). */
const CAP_NET_ADMIN = 12;
const CAP_SYS_ADMIN = 21;

export interface CommandResult {
  stdout: string;
  stderr: string;
  code: number;
}

/** Run a command to completion; never throws for a non-zero exit (the caller decides). */
export function runCommand(file: string, args: string[], timeoutMs = 10_000): Promise<CommandResult> {
  return new Promise((resolve) => {
    execFile(file, args, { timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 127) : 0;
      const message = err && typeof err.code !== 'number' ? `${err.message}\n` : '';
      resolve({ stdout: String(stdout), stderr: `${message}${String(stderr)}`, code });
    });
  });
}

/** `ip ARGS` or `tc ARGS`; a ClusterError with the command line and its stderr when it fails. */
export async function mustRun(file: 'ip' | 'tc', args: string[]): Promise<string> {
  const result = await runCommand(file, args);
  if (result.code !== 0) {
    throw new ClusterError(
      `\`${file} ${args.join(' ')}\` failed (exit ${result.code}): ${result.stderr.trim()}`,
    );
  }
  return result.stdout;
}

/** The effective capability set of this process, from /proc (undefined where there is no /proc). */
function effectiveCapabilities(): bigint | undefined {
  try {
    const line = readFileSync('/proc/self/status', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('CapEff:'));
    return line ? BigInt(`0x${line.slice('CapEff:'.length).trim()}`) : undefined;
  } catch {
    return undefined;
  }
}

/** The capabilities `ip netns add` and `ip link` need that this process lacks (names), empty when fine. */
export function missingCapabilities(): string[] {
  if (process.platform !== 'linux') return ['Linux network namespaces (this is not Linux)'];
  const caps = effectiveCapabilities();
  if (caps === undefined) return process.getuid?.() === 0 ? [] : ['CAP_NET_ADMIN', 'CAP_SYS_ADMIN'];
  const has = (bit: number) => (caps >> BigInt(bit)) & 1n;
  return [...(has(CAP_NET_ADMIN) ? [] : ['CAP_NET_ADMIN']), ...(has(CAP_SYS_ADMIN) ? [] : ['CAP_SYS_ADMIN'])];
}

/**
 * Why this process cannot build a cluster, or undefined when it can: a missing capability (namespaces and
 * links need CAP_NET_ADMIN; `ip netns add` mounts /run/netns and needs CAP_SYS_ADMIN) or missing iproute2.
 */
export async function clusterUnavailableReason(): Promise<string | undefined> {
  const missing = missingCapabilities();
  if (missing.length > 0) {
    return (
      `emulated nodes need ${missing.join(' and ')} (creating network namespaces, veth pairs and tc ` +
      'qdiscs): run as root, e.g. `sudo npx dhw cluster up ...`, or in a container started with ' +
      '--cap-add NET_ADMIN --cap-add SYS_ADMIN'
    );
  }
  for (const tool of ['ip', 'tc'] as const) {
    const probe = await runCommand(tool, ['-V']);
    if (probe.code !== 0) {
      return `\`${tool}\` (iproute2) is not available: install it with \`apt-get install -y iproute2\``;
    }
  }
  const netns = await runCommand('ip', ['netns', 'list']);
  if (netns.code !== 0) return `\`ip netns\` does not work here: ${netns.stderr.trim()}`;
  return undefined;
}

/** Throws the ClusterError that `clusterUnavailableReason` describes. */
export async function assertClusterCapable(): Promise<void> {
  const reason = await clusterUnavailableReason();
  if (reason) throw new ClusterError(reason);
}
