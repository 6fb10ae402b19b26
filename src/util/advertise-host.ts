/**
 * Bind address vs advertised address, the distinction every clustered server makes (etcd's
 * --listen-client-urls vs --advertise-client-urls, Kafka's listeners vs advertised.listeners): a process
 * listens on `host` and publishes `advertiseHost` in discovery for others to dial.
 *
 *   host 127.0.0.1 (default)            → advertise 127.0.0.1 (this machine only: loopback-safe)
 *   host 10.77.0.2                      → advertise 10.77.0.2 (what we bind is what others dial)
 *   host 0.0.0.0 / ::                   → an advertise host is required: "every interface" is not an
 *                                          address anyone can dial, and guessing one (hostname, first NIC)
 *                                          publishes an address other nodes may not reach
 *   --advertise-host given              → that, whatever the bind (e.g. a NAT'd or proxied address)
 */
import { InvalidRequestError } from './errors.ts';

const WILDCARDS = new Set(['0.0.0.0', '::', '[::]', '']);

export function isWildcardHost(host: string): boolean {
  return WILDCARDS.has(host);
}

/** 127.0.0.0/8, ::1, localhost: reachable from this machine only (a wildcard is not). */
export function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '::1' || host === '[::1]' || host.startsWith('127.');
}

/**
 * The host to publish for a server bound on `host`. `what` names the server and the flag pair in errors
 * (e.g. "worker (--host / --advertise-host)").
 */
export function resolveAdvertiseHost(host: string, advertiseHost: string | undefined, what: string): string {
  if (advertiseHost !== undefined) {
    if (isWildcardHost(advertiseHost)) {
      throw new InvalidRequestError(
        `${what}: cannot advertise "${advertiseHost}": it means "every interface", which nobody can dial; ` +
          'advertise an address of this machine that the other nodes reach (e.g. --advertise-host 10.77.0.2)',
        'advertise-host',
      );
    }
    return advertiseHost;
  }
  if (isWildcardHost(host)) {
    throw new InvalidRequestError(
      `${what}: bound to "${host}" (every interface) with no advertise host, so there is no address to ` +
        'publish in discovery: add --advertise-host ADDR (an address of this machine the other nodes reach, ' +
        'e.g. 10.77.0.2), or bind that address with --host ADDR',
      'advertise-host',
    );
  }
  return host;
}
