/**
 * A secured cluster for real (`dhw infra up --secure`'s servers, started attached): etcd with TLS, client
 * certificates and RBAC, nats-server with TLS and a user, a cluster secret. A process without the member's
 * credentials can neither register in etcd (so no rogue instance or model card) nor use NATS, nor drive a
 * worker's request plane; a member worker (a `dhw worker` child with --cluster-config) and a frontend with
 * the same file serve chat requests end to end, behind --api-key.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { type SecureStack, startSecureStack } from '../infra/secure-stack.ts';
import { type ClusterMembership, loadClusterConfig } from '../runtime/cluster-config.ts';
import { createDiscovery, type DiscoveryOptions } from '../runtime/discovery/index.ts';
import { createEventBus } from '../runtime/events/index.ts';
import { ConnectError, RequestPlaneClient, StreamDisconnectedError } from '../runtime/request-plane/index.ts';
import { ClusterSecret } from '../util/cluster-secret.ts';
import type { FrontendHandle } from './frontend.ts';
import {
  freshNamespace,
  quietLogs,
  spawnWorker,
  startTestFrontend,
  type WorkerProcess,
} from './testing/frontend-kit.ts';

quietLogs();

let dir: string;
let stack: SecureStack;
let member: ClusterMembership;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'dhw-secure-'));
  stack = await startSecureStack({ dir });
  member = loadClusterConfig(stack.configPath);
});
after(async () => {
  await stack?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const etcdWith = (overrides: Partial<DiscoveryOptions>): DiscoveryOptions => ({
  backend: 'etcd',
  etcdEndpoints: member.etcdEndpoints,
  connectTimeoutMs: 2000,
  ...overrides,
});

test('secure etcd: without the member credentials nothing registers', async () => {
  const tls = member.etcdSecurity?.tls;
  const rogues: [string, DiscoveryOptions][] = [
    ['plain http', etcdWith({ etcdEndpoints: member.etcdEndpoints?.replace('https:', 'http:') })],
    ['TLS without a client certificate', etcdWith({ etcdSecurity: { tls: { ca: tls?.ca } } })],
    ['client certificate, no user', etcdWith({ etcdSecurity: { tls } })],
    [
      'client certificate, wrong password',
      etcdWith({ etcdSecurity: { tls, user: 'dhw-member', password: 'x' } }),
    ],
    [
      'client certificate, root without its password',
      etcdWith({ etcdSecurity: { tls, user: 'root', password: '' } }),
    ],
  ];
  for (const [what, options] of rogues) {
    // etcd 3.4 grants leases without checking RBAC: the line that matters is the write of an instance key.
    const registered = (async () => {
      const rogue = await createDiscovery(options);
      try {
        await rogue.put('/dynamo/v1/instances/dynamo/backend/generate/rogue', { address: '10.6.6.6:1' });
      } finally {
        await rogue.close().catch(() => {});
      }
    })();
    await assert.rejects(registered, Error, what);
  }

  const discovery = await createDiscovery(etcdWith({ etcdSecurity: member.etcdSecurity }));
  try {
    await discovery.put('/dynamo/v1/instances/probe/x', { ok: true });
    assert.deepEqual(await discovery.get('/dynamo/v1/instances/probe/x'), { ok: true });
    // The member role is confined to the project's prefix.
    await assert.rejects(discovery.put('/elsewhere', 1), /permission denied/);
  } finally {
    await discovery.close();
  }
});

test('secure NATS: no credentials or no client certificate, no connection', async () => {
  const url = member.natsServer as string;
  const tls = member.natsSecurity?.tls;
  const rogues = [
    { what: 'no TLS, no user', natsSecurity: undefined },
    { what: 'TLS, no user', natsSecurity: { tls } },
    { what: 'TLS, wrong password', natsSecurity: { tls, user: 'dhw-member', password: 'x' } },
    { what: 'user, no client certificate', natsSecurity: { ...member.natsSecurity, tls: { ca: tls?.ca } } },
  ];
  for (const { what, natsSecurity } of rogues) {
    await assert.rejects(
      createEventBus({ backend: 'nats', natsServer: url, natsSecurity, connectTimeoutMs: 2000 }),
      Error,
      what,
    );
  }
  const bus = await createEventBus({ backend: 'nats', natsServer: url, natsSecurity: member.natsSecurity });
  await bus.close();
});

test('a member worker and frontend serve end to end; outsiders cannot drive the worker', async () => {
  const namespace = freshNamespace();
  const apiKey = 'sk-secure-cluster-test';
  let worker: WorkerProcess | undefined;
  let frontend: FrontendHandle | undefined;
  try {
    worker = await spawnWorker([
      '--engine',
      'mocker',
      '--speedup-ratio',
      '0',
      '--discovery',
      'etcd',
      '--events',
      'nats',
      '--namespace',
      namespace,
      '--cluster-config',
      stack.configPath,
    ]);
    frontend = await startTestFrontend(
      {
        namespace,
        discovery: {
          backend: 'etcd',
          etcdEndpoints: member.etcdEndpoints,
          etcdSecurity: member.etcdSecurity,
        },
        events: { backend: 'nats', natsServer: member.natsServer, natsSecurity: member.natsSecurity },
        clusterSecret: member.clusterSecret,
        auth: { apiKey },
      },
      1,
    );
    const ask = (headers: Record<string, string>) =>
      fetch(`${frontend?.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: JSON.stringify({
          model: 'fortune-llama',
          messages: [{ role: 'user', content: 'hi' }],
          max_tokens: 3,
        }),
      });
    assert.equal((await ask({})).status, 401);
    const ok = await ask({ authorization: `Bearer ${apiKey}` });
    assert.equal(ok.status, 200, await ok.clone().text());
    assert.equal(((await ok.json()) as { object: string }).object, 'chat.completion');

    // The worker's request plane: a caller without the secret, or with another one, gets no stream.
    const address = worker.address;
    const intruders = [
      new RequestPlaneClient({ connectTimeoutMs: 2000 }),
      new RequestPlaneClient({
        connectTimeoutMs: 2000,
        clusterSecret: ClusterSecret.fromBytes('z'.repeat(32)),
      }),
    ];
    try {
      for (const [i, client] of intruders.entries()) {
        const drain = async (endpoint: string, payload: unknown) => {
          for await (const _ of client.call(address, endpoint, payload)) assert.fail(`${endpoint} answered`);
        };
        for (const [endpoint, payload] of [
          ['kv_snapshot', {}],
          ['generate', { requestId: 'rogue', tokenIds: [1, 2, 3], maxTokens: 100_000_000 }],
        ] as const) {
          await assert.rejects(drain(endpoint, payload), (err) =>
            i === 0 ? err instanceof StreamDisconnectedError : err instanceof ConnectError,
          );
        }
      }
    } finally {
      await Promise.all(intruders.map((c) => c.close()));
    }
    assert.match(worker.output(), /cluster-secret handshake/);
  } finally {
    await frontend?.close();
    await worker?.stop();
  }
});
