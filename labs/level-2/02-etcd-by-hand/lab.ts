/**
 * Lab 2.2: etcd by hand. A private etcd on a free loopback port, then what a learner types with `etcdctl`:
 * put/get (and revisions), a watch that streams changes, a lease with a short TTL holding a hand-written
 * worker registration, and the watch seeing that key deleted when the lease expires. Then the same through
 * the project's Discovery client, a health check against a live and a dead etcd, and the server stopped.
 * Like Consul by hand: KV + sessions (leases) + blocking queries (watches).
 *
 * @expect /etcd .*: healthy, version 3\.\d+/
 * @expect /\$ ETCDCTL_API=3 etcdctl --endpoints=http:\/\/127\.0\.0\.1:\d+ put \/dynamo\/lab\/greeting/
 * @expect /granted with TTL\(\d+s\)/
 * @expect /DELETE arrived [\d.]+ s after the last keepalive \(TTL \d+ s\)/
 * @expect /discovery\.close\(\) revoked the lease: DELETE reached the etcdctl watch [\d.]+ ms/
 * @expect /UNHEALTHY .*connection refused/
 * @expect etcd stopped
 * @expect Lab complete.
 */
import { performance } from 'node:perf_hooks';
import type { InstanceInfo } from '../../../src/protocols/discovery.ts';
import { type EtcdServer, startEtcd } from '../../../src/infra/local-servers.ts';
import { instanceIdFromLease, instanceKey } from '../../../src/runtime/names.ts';
import { argValue, banner, isSmoke, note, runLab, step } from '../../lib/lab-kit.ts';
import { Etcdctl } from '../../lib/etcdctl.ts';
import { registerWithDiscovery } from './discovery-client.ts';
import { checkEtcdHealth, formatHealth } from './health-check.ts';
import { WatchLog } from '../../lib/watch-log.ts';

/** Lease TTL in seconds for the expiry demo; etcd rounds anything below its minimum (2 s here) up. */
const TTL_SECONDS = Number(argValue('ttl') ?? (isSmoke() ? 2 : 5));
const ENDPOINT_ID = { namespace: 'dynamo', component: 'backend', endpoint: 'generate' };

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function putGet(etcdctl: Etcdctl): void {
  etcdctl.run(['put', '/dynamo/lab/greeting', 'hello']);
  etcdctl.run(['get', '/dynamo/lab/greeting']);
  etcdctl.run(['put', '/dynamo/lab/greeting', 'hello again']);
  // -w json shows the bookkeeping: every write bumps the cluster-wide revision; version counts this key's writes.
  const json = JSON.parse(etcdctl.run(['get', '/dynamo/lab/greeting', '-w', 'json'], { quiet: true })) as {
    header: { revision: number };
    kvs: { create_revision: number; mod_revision: number; version: number }[];
  };
  const kv = json.kvs[0]!;
  note(`$ ${etcdctl.commandLine(['get', '/dynamo/lab/greeting', '-w', 'json'])}`);
  note(
    `  → cluster revision ${json.header.revision}; key created at revision ${kv.create_revision}, last modified ` +
      `at ${kv.mod_revision}, version ${kv.version} (its number of writes)`,
  );
  etcdctl.run(['get', '/dynamo/lab/greeting', `--rev=${kv.create_revision}`]);
  note('  (reading an old revision: etcd is a versioned store; that is what makes watches resumable)');
}

async function watchPutDelete(etcdctl: Etcdctl, log: WatchLog): Promise<void> {
  const key = '/dynamo/lab/watched';
  const sent = performance.now();
  etcdctl.run(['put', key, 'v1']);
  const put = await log.waitFor('PUT', key, 5000);
  etcdctl.run(['del', key]);
  await log.waitFor('DELETE', key, 5000);
  note(
    `put → watch event: ${(put.at - sent).toFixed(1)} ms, including starting the etcdctl process ` +
      '(an in-process client such as etcd3 sees about 1 ms)',
  );
}

async function leaseExpiry(etcdctl: Etcdctl, log: WatchLog, etcd: EtcdServer): Promise<void> {
  const granted = etcdctl.run(['lease', 'grant', String(TTL_SECONDS)]);
  const leaseHex = /lease ([0-9a-f]+) granted/.exec(granted)?.[1];
  if (!leaseHex) throw new Error(`could not read the lease id from: ${granted}`);
  // Dynamo's convention: the lease id (hex) IS the instance id, and the key ends with it.
  const instanceId = instanceIdFromLease(BigInt(`0x${leaseHex}`));
  const key = instanceKey(ENDPOINT_ID, instanceId);
  const info: InstanceInfo = {
    ...ENDPOINT_ID,
    instanceId,
    transport: { tcp: '127.0.0.1:9999' },
    pid: etcd.pid,
    hostname: 'lab-host',
  };
  note('Register a (pretend) worker by hand, the way a worker process does it: the key under its lease.');
  etcdctl.run(['put', `--lease=${leaseHex}`, key, JSON.stringify(info)]);
  await log.waitFor('PUT', key, 5000);
  etcdctl.run(['get', '--prefix', '/dynamo/v1/instances/', '--keys-only']);
  etcdctl.run(['lease', 'timetolive', leaseHex, '--keys']);

  await sleep((TTL_SECONDS * 1000) / 2);
  note(`${TTL_SECONDS / 2} s later, one heartbeat (a worker sends these every TTL/3 while it is alive):`);
  etcdctl.run(['lease', 'keep-alive', '--once', leaseHex]);
  const lastKeepalive = performance.now();
  note(
    `Now the "worker" goes silent (crashed). Waiting for etcd to expire the lease after ${TTL_SECONDS} s ...`,
  );
  const deleted = await log.waitFor('DELETE', key, TTL_SECONDS * 1000 + 5000);
  note(
    `DELETE arrived ${((deleted.at - lastKeepalive) / 1000).toFixed(2)} s after the last keepalive (TTL ${TTL_SECONDS} s): ` +
      'every watcher (a frontend, a router) learns the worker is gone without anyone telling it.',
  );
  etcdctl.run(['lease', 'timetolive', leaseHex]);
  etcdctl.run(['get', '--prefix', '/dynamo/v1/instances/', '--keys-only']);
}

async function main(): Promise<void> {
  banner('2.2', 'etcd by hand');

  step('Start a private etcd on a free loopback port (src/infra startEtcd)');
  const etcd = await startEtcd();
  const origin = performance.now();
  let watch: { stop(): Promise<void> } | undefined;
  let stopped = false;
  try {
    note(`endpoint ${etcd.endpoint}, pid ${etcd.pid}, data dir ${etcd.dataDir} (removed on stop)`);
    const etcdctl = new Etcdctl(etcd.endpoint);

    step('Is it healthy? Our health-check utility, then etcdctl');
    note(formatHealth(await checkEtcdHealth(etcd.endpoint)));
    etcdctl.run(['endpoint', 'health']);
    etcdctl.run(['endpoint', 'status', '-w', 'table']);

    step('put / get: a key-value store with revisions');
    putGet(etcdctl);

    step('watch: a stream of changes under a prefix (what a frontend does to find workers)');
    const log = new WatchLog(origin);
    // From the next revision on: a watch process that starts slowly still gets every later write, replayed.
    watch = etcdctl.watch('/dynamo/', log.onLine, { fromRevision: etcdctl.currentRevision() + 1 });
    await sleep(300); // let the watch connect, so the arrival times below are delivery latencies
    await watchPutDelete(etcdctl, log);

    step(`Leases: a key that lives only while its owner keeps renewing (TTL ${TTL_SECONDS} s)`);
    await leaseExpiry(etcdctl, log, etcd);

    step('The same with our Discovery client (src/runtime/discovery): lease, keepalive, watch, revoke');
    await registerWithDiscovery(etcd.endpoint, TTL_SECONDS, etcdctl, log);

    step('The whole registry, as the troubleshooting table says to look at it');
    etcdctl.run(['get', '--prefix', '/dynamo']);
    note(formatHealth(await checkEtcdHealth(etcd.endpoint)));

    step('Stop etcd, then run the health check again (what a dead registry looks like)');
    await watch.stop();
    watch = undefined;
    await etcd.stop();
    stopped = true;
    note('etcd stopped');
    note(formatHealth(await checkEtcdHealth(etcd.endpoint, 500)));
  } finally {
    await watch?.stop();
    if (!stopped) await etcd.stop();
  }
}

runLab(
  main,
  'etcd missing? sudo apt-get install -y etcd-server etcd-client. Then: npm run lab -- 2.2 --smoke',
);
