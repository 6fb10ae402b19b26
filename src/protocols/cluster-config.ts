/**
 * The cluster config file (`dhw infra up --secure` writes it; every command reads it with
 * `--cluster-config FILE`): where etcd and NATS are and how a cluster member proves itself to them, plus the
 * cluster secret the request plane and KV transfer check. Like a kubeconfig: one file, handed to every
 * member, that holds endpoints and credentials together. Relative paths are relative to the file itself.
 * It holds passwords: keep it mode 0600 and give it only to cluster members.
 */

export interface ClusterConfigFile {
  /** Format version (1). */
  version: 1;
  etcd?: {
    /** https://host:port, comma-separated for several. */
    endpoints: string;
    /** PEM files: the CA that signed etcd's certificate, and this member's client certificate and key. */
    ca?: string;
    cert?: string;
    key?: string;
    /** etcd RBAC user and password (etcd's JSON gateway takes identity from these, not the certificate). */
    user?: string;
    password?: string;
  };
  nats?: {
    /** tls://host:port (or nats://), comma-separated for several. */
    url: string;
    ca?: string;
    cert?: string;
    key?: string;
    /** One way to authenticate: user + password, token, NKey seed file, or .creds file. */
    user?: string;
    password?: string;
    token?: string;
    nkeySeedFile?: string;
    credsFile?: string;
  };
  /** File holding the shared secret for the request plane and KV transfer handshakes. */
  clusterSecretFile?: string;
}

export const CLUSTER_CONFIG_VERSION = 1;
