/**
 * `dhw doctor`: checks a deployment in the curriculum's troubleshooting order, like a runbook turned into
 * a script: 1. network connectivity (etcd, NATS, the route and link to each, clock skew against their clocks) → 2. service registration (workers under /dynamo/, do
 * their ports answer at their advertised addresses, do full-size packets arrive (MTU), and can a frontend on this machine load each model's card?) → 3. memory (RAM for the model + KV cache; our GPU is the CPU) → 4. versions
 * (node, etcd, nats-server) → 5. model files (config.json, safetensors, tokenizer.json). Every failure
 * says what to do. Exit code 1 if any check failed (warnings do not fail).
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { ENGINE_DEFAULTS } from '../../engine/index.ts';
import { defaultDiscoveryDir, resolveEtcdEndpoints } from '../../runtime/discovery/index.ts';
import { resolveNatsUrl } from '../../runtime/events/index.ts';
import { defaultModelDir } from '../../util/paths.ts';
import { LOGGING_FLAGS, numberFlag, stringFlag } from '../args.ts';
import type { Command } from '../command.ts';
import { beginCommand } from '../command-prologue.ts';
import { DISCOVERY_FLAGS, discoveryBackendFlag, discoveryOptionsFromFlags } from '../runtime-flags.ts';
import {
  type CheckResult,
  checkInstance,
  checkMemory,
  checkModelFiles,
  checkVersions,
  type EtcdProbe,
  type NatsProbe,
  probeEtcd,
  probeNats,
} from './doctor-checks.ts';
import { checkModelCards } from './doctor-card-checks.ts';
import {
  checkAdvertisedScope,
  checkBigPackets,
  checkClockSkew,
  checkLinks,
  hostOf,
} from './doctor-network-checks.ts';
import {
  checkClusterSecret,
  probeSecureEtcd,
  probeSecureNats,
  secureEtcdResult,
  secureNatsResult,
} from './doctor-secure-checks.ts';
import { listRegistry } from './ls.ts';
import type { ClusterMembership } from '../../runtime/cluster-config.ts';
import { CLUSTER_FLAGS, clusterEvents, clusterFromFlags, withClusterDiscovery } from '../security-flags.ts';

const FLAGS = {
  ...DISCOVERY_FLAGS,
  ...CLUSTER_FLAGS,
  'nats-server': {
    type: 'string' as const,
    help: 'NATS URL (default: $NATS_SERVER, else nats://127.0.0.1:4222)',
  },
  'skip-nats': { type: 'boolean' as const, help: 'do not check NATS (workers run with --events memory)' },
  model: { type: 'string' as const, help: 'model folder to check (default: models/fortune-llama)' },
  namespace: { type: 'string' as const, help: 'only this namespace (default: all)' },
  'max-num-seqs': {
    type: 'string' as const,
    default: String(ENGINE_DEFAULTS.maxNumSeqs),
    help: 'for the KV cache estimate',
  },
  'nats-monitor-port': {
    type: 'string' as const,
    default: '8222',
    help: "NATS monitoring port on NATS's host, read for the clock-skew check (/varz)",
  },
  json: { type: 'boolean' as const, help: 'print the checks as JSON' },
  ...LOGGING_FLAGS,
  'log-level': { ...LOGGING_FLAGS['log-level'], default: 'error' },
};
const USAGE =
  'dhw doctor [--etcd-endpoints URLS] [--nats-server URL] [--cluster-config FILE] [--model DIR] [--json]';
const DESCRIPTION =
  'Check connectivity, registration, memory, versions and model files, in that order, with a fix for each problem.';

const SECTION_TITLES: Record<string, string> = {
  connectivity: '1. Network connectivity',
  registration: '2. Service registration',
  memory: '3. Memory',
  versions: '4. Versions',
  model: '5. Model files',
};
const MARKS: Record<CheckResult['status'], string> = { ok: '✔', warn: '!', fail: '✖', skip: '-' };

interface Connectivity {
  results: CheckResult[];
  etcd?: EtcdProbe;
  nats?: NatsProbe;
  registryReachable: boolean;
}

/** etcd as a plain client (GET /version) or, with a cluster config, as a member (TLS, login, read). */
async function checkEtcd(
  endpoints: string[],
  cluster: ClusterMembership,
): Promise<{ result: CheckResult; probe: EtcdProbe | undefined }> {
  const section = 'connectivity';
  const security = cluster.etcdSecurity;
  if (security && (security.tls || security.user)) {
    const probes = await Promise.all(endpoints.map((e) => probeSecureEtcd(e, security)));
    return { result: secureEtcdResult(probes, security), probe: probes.find((p) => p.ok) ?? probes[0] };
  }
  const probes = await Promise.all(endpoints.map(probeEtcd));
  const etcd = probes.find((p) => p.ok) ?? probes[0];
  const result: CheckResult = etcd?.ok
    ? { section, name: 'etcd', status: 'ok', detail: `reachable at ${etcd.endpoint} (etcd ${etcd.version})` }
    : {
        section,
        name: 'etcd',
        status: 'fail',
        detail: `Cannot reach etcd at ${endpoints.join(', ')} (${probes.map((p) => p.error).join(', ')})`,
        fix: 'Is etcd running? Try: `dhw infra up` (or point --etcd-endpoints / ETCD_ENDPOINTS at it)',
      };
  return { result, probe: etcd };
}

/** NATS as a plain client (its INFO greeting) or, with a cluster config, as a member (TLS + credentials). */
async function checkNats(
  url: string,
  cluster: ClusterMembership,
): Promise<{ result: CheckResult; probe: NatsProbe }> {
  const section = 'connectivity';
  const security = cluster.natsSecurity;
  if (security) {
    const probe = await probeSecureNats(url, security);
    return { result: secureNatsResult(probe, security), probe };
  }
  const nats = await probeNats(url);
  const result: CheckResult = !nats.ok
    ? {
        section,
        name: 'NATS',
        status: 'fail',
        detail: `Cannot reach NATS at ${url} (${nats.error})`,
        fix: 'Is nats-server running? Try: `dhw infra up` (or point --nats-server / NATS_SERVER at it)',
      }
    : !nats.jetstream
      ? {
          section,
          name: 'NATS',
          status: 'fail',
          detail: `NATS ${nats.version} at ${url} has JetStream off (KV events need it)`,
          fix: 'restart nats-server with -js (`dhw infra up` does)',
        }
      : {
          section,
          name: 'NATS',
          status: 'ok',
          detail: `reachable at ${url} (nats-server ${nats.version}, JetStream on)`,
        };
  return { result, probe: nats };
}

async function checkConnectivity(
  values: Record<string, string | boolean | undefined>,
  cluster: ClusterMembership,
): Promise<Connectivity> {
  const section = 'connectivity';
  const results: CheckResult[] = [];
  const backend = discoveryBackendFlag(values, ['etcd', 'file']);
  const etcdEndpoints = resolveEtcdEndpoints(stringFlag(values, 'etcd-endpoints') ?? cluster.etcdEndpoints);
  const natsUrl = resolveNatsUrl(clusterEvents(stringFlag(values, 'nats-server'), cluster).natsServer);
  let etcd: EtcdProbe | undefined;
  let registryReachable = true;
  if (backend === 'etcd') {
    const checked = await checkEtcd(etcdEndpoints, cluster);
    etcd = checked.probe;
    registryReachable = etcd?.ok === true;
    results.push(checked.result);
  } else {
    const dir = stringFlag(values, 'discovery-dir') ?? defaultDiscoveryDir();
    registryReachable = existsSync(dir);
    results.push(
      registryReachable
        ? { section, name: 'discovery dir', status: 'ok', detail: `${dir} exists` }
        : {
            section,
            name: 'discovery dir',
            status: 'warn',
            detail: `${dir} does not exist yet`,
            fix: 'no worker with --discovery file has run here; check --discovery-dir',
          },
    );
  }
  let nats: NatsProbe | undefined;
  if (values['skip-nats'] !== true) {
    const checked = await checkNats(natsUrl, cluster);
    nats = checked.probe;
    results.push(checked.result);
  }
  // Checked whether or not the servers answered: a down link is the likeliest reason they did not.
  const peers = [
    ...(backend === 'etcd' ? etcdEndpoints : []),
    ...(values['skip-nats'] === true ? [] : [natsUrl.split(',')[0]!]),
  ].flatMap((url) => {
    try {
      return [new URL(url.includes('://') ? url : `nats://${url}`).hostname];
    } catch {
      return [];
    }
  });
  results.push(...(await checkLinks(peers, section)));
  results.push(
    ...(await checkClockSkew(
      // A secured etcd answers only with the client certificate, which the clock probe does not carry.
      etcd?.ok && !cluster.etcdSecurity?.tls ? etcd.endpoint : undefined,
      nats?.ok ? nats.url : undefined,
      numberFlag(values, 'nats-monitor-port', { integer: true, min: 1 }),
    )),
  );
  return { results, etcd, nats, registryReachable };
}

async function checkRegistration(
  values: Record<string, string | boolean | undefined>,
  reachable: boolean,
  natsUrl: string | undefined,
  etcdEndpoint: string | undefined,
  cluster: ClusterMembership,
): Promise<CheckResult[]> {
  const section = 'registration';
  if (!reachable) {
    return [{ section, name: 'workers', status: 'skip', detail: 'discovery is unreachable (see above)' }];
  }
  try {
    const listing = await listRegistry(
      withClusterDiscovery(discoveryOptionsFromFlags(values, ['etcd', 'file']), cluster),
      stringFlag(values, 'namespace'),
    );
    if (listing.instances.length === 0) {
      return [
        {
          section,
          name: 'workers',
          status: 'warn',
          detail: 'no worker instances registered under /dynamo/v1/instances/',
          fix: 'start one: `dhw worker --engine mocker` (same --etcd-endpoints); debug with `etcdctl get --prefix /dynamo`',
        },
      ];
    }
    const models = listing.models.map((m) => `${m.name} (${m.instances.length})`).join(', ') || 'none';
    const results: CheckResult[] = [
      {
        section,
        name: 'workers',
        status: 'ok',
        detail: `${listing.instances.length} instance(s); models: ${models}`,
      },
    ];
    for (const instance of listing.instances) results.push(await checkInstance(instance));
    results.push(...(await checkClusterSecret(listing.instances, cluster.clusterSecret)));
    // Across machines: can this host route to each worker, do full-size packets arrive, is the address global?
    results.push(
      ...(await checkLinks(
        listing.instances.map((i) => hostOf(i.transport.tcp)),
        section,
      )),
    );
    results.push(...(await checkBigPackets(listing.instances)));
    results.push(...checkAdvertisedScope(listing.instances, etcdEndpoint));
    results.push(...(await checkModelCards(listing.models, natsUrl, cluster.natsSecurity)));
    if (listing.malformed.length > 0) {
      results.push({
        section,
        name: 'keys',
        status: 'warn',
        detail: `${listing.malformed.length} malformed key(s): ${listing.malformed.join(', ')}`,
        fix: 'written by hand or by another version; delete them with `etcdctl del KEY`',
      });
    }
    return results;
  } catch (err) {
    return [
      {
        section,
        name: 'workers',
        status: 'fail',
        detail: (err as Error).message,
        fix: 'see connectivity above',
      },
    ];
  }
}

export async function runDoctor(
  values: Record<string, string | boolean | undefined>,
): Promise<CheckResult[]> {
  const modelDir = resolve(stringFlag(values, 'model') ?? defaultModelDir);
  const cluster = clusterFromFlags(values);
  const connectivity = await checkConnectivity(values, cluster);
  const maxNumSeqs =
    numberFlag(values, 'max-num-seqs', { integer: true, min: 1 }) ?? ENGINE_DEFAULTS.maxNumSeqs;
  return [
    ...connectivity.results,
    ...(await checkRegistration(
      values,
      connectivity.registryReachable,
      connectivity.nats?.ok ? connectivity.nats.url : undefined,
      connectivity.etcd?.ok ? connectivity.etcd.endpoint : undefined,
      cluster,
    )),
    await checkMemory(modelDir, maxNumSeqs, ENGINE_DEFAULTS.blockSize),
    ...(await checkVersions(connectivity.etcd, connectivity.nats)),
    ...(await checkModelFiles(modelDir)),
  ];
}

function printResults(results: CheckResult[]): void {
  let section = '';
  for (const r of results) {
    if (r.section !== section) {
      section = r.section;
      console.log(`\n${SECTION_TITLES[section] ?? section}`);
    }
    console.log(`  ${MARKS[r.status]} ${r.name.padEnd(26)} ${r.detail}`);
    if (r.fix && (r.status === 'fail' || r.status === 'warn'))
      console.log(`    ${' '.repeat(26)} fix: ${r.fix}`);
  }
  const count = (s: CheckResult['status']) => results.filter((r) => r.status === s).length;
  console.log(
    `\n${count('fail')} failed, ${count('warn')} warning(s), ${count('ok')} passed, ${count('skip')} skipped`,
  );
}

export const doctorCommand: Command = {
  name: 'doctor',
  summary: 'check etcd, NATS, registration, memory, versions and model files',
  async run(argv) {
    const parsed = beginCommand(argv, { usage: USAGE, description: DESCRIPTION, flags: FLAGS });
    if (!parsed) return 0;
    const { values } = parsed;
    const results = await runDoctor(values);
    if (values.json) console.log(JSON.stringify(results, null, 2));
    else printResults(results);
    return results.some((r) => r.status === 'fail') ? 1 : 0;
  },
};
