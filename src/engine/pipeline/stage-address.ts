/** `host:port` strings of pipeline stages (`--pipeline-stage-addresses`), checked at the edge. */
import { DhwError } from '../../util/errors.ts';

export function parseHostPort(address: string): { host: string; port: number } {
  const i = address.lastIndexOf(':');
  const host = address.slice(0, i).replace(/^\[(.*)\]$/, '$1');
  const port = Number(address.slice(i + 1));
  if (i <= 0 || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw new DhwError(
      `pipeline stage address ${JSON.stringify(address)} is not HOST:PORT (e.g. 10.0.0.2:7100)`,
    );
  }
  return { host, port };
}
