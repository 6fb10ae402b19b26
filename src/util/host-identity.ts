/**
 * Which processes can reach each other's Unix-domain sockets: those on the same kernel that see the same
 * filesystem. The identity is the hostname plus, on Linux, the boot id and the inodes of this process's
 * mount and network namespaces (`/proc/self/ns/*`): two containers on one machine, or two emulated nodes of
 * `dhw cluster` (network namespaces sharing one filesystem), get different identities, so a request plane
 * that an emulated link shapes is never bypassed through a socket file. Elsewhere it is the hostname alone.
 * Like the rule a database client follows before it switches from TCP to the server's local socket.
 */
import { readFileSync, readlinkSync } from 'node:fs';
import { hostname } from 'node:os';

let cached: string | undefined;

/** e.g. "box1/4f6c…/mnt:[4026531841]/net:[4026531840]"; computed once per process. */
export function hostIdentity(): string {
  cached ??= [hostname(), ...linuxParts()].join('/');
  return cached;
}

function linuxParts(): string[] {
  if (process.platform !== 'linux') return [];
  const parts: string[] = [];
  try {
    parts.push(readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim());
  } catch {
    // no procfs: the hostname and namespaces below still tell machines apart in the usual cases
  }
  for (const ns of ['mnt', 'net']) {
    try {
      parts.push(readlinkSync(`/proc/self/ns/${ns}`));
    } catch {
      // not readable (hardened procfs): leave it out
    }
  }
  return parts;
}
