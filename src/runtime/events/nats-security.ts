/**
 * nats-server's own security, as a client uses it (NATS docs: "Securing NATS"): TLS (verify the server with
 * a CA; present a client certificate when the server sets `verify: true`) and one way of proving who we
 * are: a token, a user and password, an NKey seed, or a `.creds` file (JWT + NKey, operator mode). Like a
 * message broker's connection URL with `?tls=true&user=...`, spelled as options.
 */
import { readFileSync } from 'node:fs';
import {
  type Authenticator,
  type ConnectionOptions,
  credsAuthenticator,
  nkeyAuthenticator,
} from '@nats-io/transport-node';
import { InvalidRequestError } from '../../util/errors.ts';
import type { TlsFiles } from '../../util/tls-files.ts';

export interface NatsSecurity {
  tls?: TlsFiles;
  /** Token authorization (`authorization { token: ... }`). */
  token?: string;
  /** User/password authorization (`authorization { users: [...] }`). */
  user?: string;
  password?: string;
  /** NKey seed file (`SU...`), for `authorization { users: [{ nkey: U... }] }`. */
  nkeySeedFile?: string;
  /** Credentials file (JWT + seed) for operator/decentralized auth. */
  credsFile?: string;
}

function readSecretFile(path: string, what: string): Uint8Array {
  try {
    return new Uint8Array(readFileSync(path));
  } catch (cause) {
    throw new InvalidRequestError(
      `cannot read the NATS ${what} file ${path}: ${(cause as Error).message}`,
      'cluster-config',
    );
  }
}

/** The nats.js connect options that carry `security` (empty when nothing is configured). */
export function natsSecurityOptions(security: NatsSecurity | undefined): Partial<ConnectionOptions> {
  if (!security) return {};
  const ways = [security.token, security.user, security.nkeySeedFile, security.credsFile].filter(
    (v) => v !== undefined,
  );
  if (ways.length > 1)
    throw new InvalidRequestError(
      'NATS credentials: give one of token, user/password, nkey seed file or creds file',
      'cluster-config',
    );
  if (security.user !== undefined && security.password === undefined)
    throw new InvalidRequestError(`NATS user "${security.user}" needs a password`, 'cluster-config');
  const options: Partial<ConnectionOptions> = {};
  if (security.tls) {
    if ((security.tls.cert === undefined) !== (security.tls.key === undefined))
      throw new InvalidRequestError(
        'a NATS client certificate needs both a cert and a key file',
        'cluster-config',
      );
    options.tls = { caFile: security.tls.ca, certFile: security.tls.cert, keyFile: security.tls.key };
  }
  if (security.token !== undefined) options.token = security.token;
  if (security.user !== undefined) {
    options.user = security.user;
    options.pass = security.password;
  }
  let authenticator: Authenticator | undefined;
  if (security.nkeySeedFile !== undefined)
    authenticator = nkeyAuthenticator(readSecretFile(security.nkeySeedFile, 'NKey seed'));
  if (security.credsFile !== undefined)
    authenticator = credsAuthenticator(readSecretFile(security.credsFile, 'credentials'));
  if (authenticator) options.authenticator = authenticator;
  return options;
}
