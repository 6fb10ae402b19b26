/**
 * Addresses of stream data connections: "tcp://host:port" or "unix:///absolute/path.sock". One socket API
 * (node:net) serves both; only the address and the listen/connect arguments differ.
 */
import { TransferProtocolError } from './errors.ts';

export type StreamAddress = { kind: 'tcp'; host: string; port: number } | { kind: 'unix'; path: string };

export function formatStreamAddress(a: StreamAddress): string {
  return a.kind === 'tcp' ? `tcp://${a.host}:${a.port}` : `unix://${a.path}`;
}

export function parseStreamAddress(text: string): StreamAddress {
  if (text.startsWith('unix://')) return { kind: 'unix', path: text.slice('unix://'.length) };
  const m = /^tcp:\/\/(.+):(\d+)$/.exec(text);
  if (m) return { kind: 'tcp', host: m[1] as string, port: Number(m[2]) };
  throw new TransferProtocolError(
    `not a data-connection address: ${JSON.stringify(text)} (expected tcp://host:port or unix:///path)`,
  );
}

/** The argument node:net's connect and listen take for an address. */
export function netTarget(a: StreamAddress): { host: string; port: number } | { path: string } {
  return a.kind === 'tcp' ? { host: a.host, port: a.port } : { path: a.path };
}
