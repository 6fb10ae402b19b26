/**
 * TLS material as file paths, the way etcd, nats-server and their clients are configured
 * (--trusted-ca-file / --cert-file / --key-file; tls { ca_file cert_file key_file }). Read at connect time,
 * so a wrong path fails at start with the file named.
 */
import { readFileSync } from 'node:fs';
import { InvalidRequestError } from './errors.ts';

/** PEM files; every field is optional (a CA alone = verify the server, no client certificate). */
export interface TlsFiles {
  /** CA that signed the server's certificate (default: the system's roots). */
  ca?: string;
  /** Client certificate (with `key`), for servers that require one. */
  cert?: string;
  key?: string;
}

/** The files' contents; `what` names the server in errors ("etcd", "NATS"). */
export function readTlsFiles(tls: TlsFiles, what: string): { ca?: Buffer; cert?: Buffer; key?: Buffer } {
  if ((tls.cert === undefined) !== (tls.key === undefined))
    throw new InvalidRequestError(
      `a ${what} client certificate needs both a cert and a key file`,
      'cluster-config',
    );
  const read = (kind: string, path: string | undefined) => {
    if (path === undefined) return undefined;
    try {
      return readFileSync(path);
    } catch (cause) {
      throw new InvalidRequestError(
        `cannot read the ${what} TLS ${kind} file ${path}: ${(cause as Error).message}`,
        'cluster-config',
      );
    }
  };
  return { ca: read('CA', tls.ca), cert: read('certificate', tls.cert), key: read('key', tls.key) };
}
