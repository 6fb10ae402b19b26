/**
 * etcd's own security, as a client uses it (etcd docs: "Transport security model", "Role-based access
 * control"): TLS with a client certificate when the server runs with --client-cert-auth, and a user name
 * plus password exchanged for a token (`POST /v3/auth/authenticate`) that rides on every later request in
 * the `Authorization` header. Like a database connection string with sslmode=verify-full and a password.
 *
 * The JSON gateway ignores the certificate's CN as an identity (etcd only maps CN → user on gRPC), so with
 * auth enabled the password is what names the user; the certificate decides who may connect at all.
 *
 * Plain `fetch` cannot present a client certificate (Node 20 has no public dispatcher option), so TLS
 * requests go through node:https with an Agent holding the CA, certificate and key.
 */
import type { IncomingMessage } from 'node:http';
import { Agent, request } from 'node:https';
import { readTlsFiles, type TlsFiles } from '../../util/tls-files.ts';

export interface EtcdSecurity {
  tls?: TlsFiles;
  /** etcd RBAC user; needs `password`. */
  user?: string;
  password?: string;
}

/** A configured https.Agent for `tls` (reads the files now, so a wrong path fails at start). */
export function tlsAgent(tls: TlsFiles): Agent {
  return new Agent({ keepAlive: true, ...readTlsFiles(tls, 'etcd') });
}

export interface HttpAnswer {
  status: number;
  body: AsyncIterable<Uint8Array>;
}

/** POST `body` as JSON over node:https through `agent`; resolves with the status and the body stream. */
export function postOverTls(
  agent: Agent,
  url: string,
  body: object,
  headers: Record<string, string>,
  signal: AbortSignal,
): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const text = JSON.stringify(body);
    const req = request(
      url,
      {
        method: 'POST',
        agent,
        signal,
        headers: {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(text),
          ...headers,
        },
      },
      (res: IncomingMessage) => resolve({ status: res.statusCode ?? 0, body: res }),
    );
    req.on('error', reject);
    req.end(text);
  });
}

/** The whole body as JSON. */
export async function readJson(body: AsyncIterable<Uint8Array>): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(Buffer.from(chunk));
  return JSON.parse(Buffer.concat(chunks).toString('utf8'));
}
