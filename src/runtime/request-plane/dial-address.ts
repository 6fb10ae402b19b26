/**
 * Which of a worker's advertised addresses this process dials: its Unix-domain socket when the worker runs
 * on this host (same host identity: same kernel, filesystem and network namespace), else its TCP address.
 * Like a MySQL or PostgreSQL client that uses the server's local socket for "localhost" and TCP for the rest.
 */
import type { InstanceTransport } from '../../protocols/discovery.ts';
import { hostIdentity } from '../../util/host-identity.ts';
import { UNIX_ADDRESS_PREFIX } from './client-connection.ts';

/** "unix:/path" for a same-host worker that offers a socket, else its "host:port". */
export function dialAddress(transport: InstanceTransport, localHost = hostIdentity()): string {
  const unix = transport.unix;
  return unix !== undefined && unix.host === localHost ? `${UNIX_ADDRESS_PREFIX}${unix.path}` : transport.tcp;
}

/** What a worker advertises for a server's `localAddress` ("unix:/path"), or undefined. */
export function unixTransport(localAddress: string | undefined): InstanceTransport['unix'] {
  if (localAddress === undefined || !localAddress.startsWith(UNIX_ADDRESS_PREFIX)) return undefined;
  return { path: localAddress.slice(UNIX_ADDRESS_PREFIX.length), host: hostIdentity() };
}
