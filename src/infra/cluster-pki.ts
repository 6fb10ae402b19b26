/**
 * A private CA and the certificates a secured local cluster needs, made with the `openssl` command line
 * (node:crypto makes keys but not X.509 certificates, and openssl is on every box that has etcd; a
 * JavaScript PKI library would be one more dependency to keep patched for what four commands do).
 *
 *   ca.pem / ca.key           the cluster CA (signs everything below; the key never leaves this folder)
 *   server.pem / server.key   etcd's and nats-server's certificate: SANs 127.0.0.1, localhost and the
 *                             advertised host; also a client certificate (etcd's JSON gateway dials its
 *                             own gRPC port with it)
 *   client.pem / client.key   what members present; NO common name, because etcd's JSON gateway refuses
 *                             client certificates that carry one ("CommonName ... will be ignored")
 *
 * Existing files are kept, so `dhw infra up --secure` twice reuses one CA.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { InfraError } from './errors.ts';

export interface ClusterPki {
  dir: string;
  ca: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
}

const EC_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

function openssl(args: string[], cwd: string): void {
  try {
    execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: Buffer };
    if (e.code === 'ENOENT')
      throw new InfraError(
        '`openssl` is not installed; it makes the certificates of --secure (apt-get install openssl)',
      );
    throw new InfraError(`openssl ${args[0]} failed: ${e.stderr?.toString().trim() ?? e.message}`, {
      cause: err,
    });
  }
}

/** Make (or reuse) the CA, server and client certificates under `dir`; `hosts` go into the server's SANs. */
export async function ensureClusterPki(dir: string, hosts: readonly string[] = []): Promise<ClusterPki> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const pki: ClusterPki = {
    dir,
    ca: join(dir, 'ca.pem'),
    serverCert: join(dir, 'server.pem'),
    serverKey: join(dir, 'server.key'),
    clientCert: join(dir, 'client.pem'),
    clientKey: join(dir, 'client.key'),
  };
  if (!existsSync(pki.ca)) {
    // biome-ignore format: one flag and its value per line
    openssl(['req', '-x509', ...EC_KEY, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '3650', '-subj', '/CN=dhw-cluster-ca'], dir);
  }
  const sans = new Set(['IP:127.0.0.1', 'DNS:localhost']);
  for (const host of hosts) sans.add(isIP(host) ? `IP:${host}` : `DNS:${host}`);
  if (!existsSync(pki.serverCert))
    issue(
      dir,
      'server',
      '/CN=dhw-server',
      `subjectAltName=${[...sans].join(',')}\nextendedKeyUsage=serverAuth,clientAuth\n`,
    );
  if (!existsSync(pki.clientCert)) issue(dir, 'client', '/O=dhw-cluster', 'extendedKeyUsage=clientAuth\n');
  return pki;
}

function issue(dir: string, name: string, subject: string, extensions: string): void {
  const ext = join(dir, `${name}.ext`);
  writeFileSync(ext, extensions);
  openssl(['req', ...EC_KEY, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', subject], dir);
  // biome-ignore format: one flag and its value per line
  openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${name}.pem`, '-days', '825', '-extfile', `${name}.ext`], dir);
  void rm(join(dir, `${name}.csr`), { force: true });
  void rm(ext, { force: true });
}
