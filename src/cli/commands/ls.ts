/**
 * `dhw ls`: what is registered in discovery, like `consul catalog services` + `consul catalog nodes`:
 * the models served (from model cards), every instance with its address, status port, process and how
 * long its lease has left (etcd). `--json` prints one object for scripts.
 */
import {
  type InstanceInfo,
  isInstanceInfo,
  isModelCard,
  type ModelCard,
  type TokenizerSource,
} from '../../protocols/discovery.ts';
import {
  createDiscovery,
  type DiscoveryOptions,
  type KeyValue,
  resolveEtcdEndpoints,
} from '../../runtime/discovery/index.ts';
import {
  instancesPrefix,
  leaseFromInstanceId,
  modelCardsPrefix,
  parseDiscoveryKey,
} from '../../runtime/names.ts';
import { LOGGING_FLAGS, numberFlag, stringFlag, UsageError } from '../args.ts';
import type { Command } from '../command.ts';
import { beginCommand } from '../command-prologue.ts';
import { DISCOVERY_FLAGS, discoveryOptionsFromFlags } from '../runtime-flags.ts';
import { fileSdGroups, writeFileSd } from './prometheus-sd.ts';

const FLAGS = {
  ...DISCOVERY_FLAGS,
  namespace: { type: 'string' as const, help: 'only this namespace (default: all)' },
  json: { type: 'boolean' as const, help: 'print one JSON object' },
  'prometheus-sd': {
    type: 'string' as const,
    help: "write the workers' /metrics targets as a Prometheus file_sd JSON file (see deploy/prometheus.yml)",
  },
  every: {
    type: 'string' as const,
    help: 'with --prometheus-sd: rewrite the file every N seconds until Ctrl-C',
  },
  ...LOGGING_FLAGS,
  'log-level': { ...LOGGING_FLAGS['log-level'], default: 'warn' },
};
const USAGE =
  'dhw ls [--discovery etcd|file] [--etcd-endpoints URLS] [--namespace NS] [--json] [--prometheus-sd FILE [--every S]]';
const DESCRIPTION =
  'List the models and worker instances registered in discovery (etcd: $ETCD_ENDPOINTS, like `etcdctl get --prefix /dynamo`).';

export interface ListedInstance extends InstanceInfo {
  /** The model its card names (undefined if it has no card). */
  model?: string;
  /** Seconds its lease has left (etcd only; -1 = gone, undefined = unknown). */
  leaseTtlSeconds?: number;
}

export interface ListedModel {
  name: string;
  modelType: ModelCard['modelType'];
  kvCacheBlockSize: number;
  contextLength: number;
  /** Summed over its instances. */
  totalKvBlocks: number;
  instances: string[];
  /** Where its cards say the tokenizer files are, once per distinct source (`dhw doctor` checks each). */
  tokenizerSources: TokenizerSource[];
}

export interface Listing {
  models: ListedModel[];
  instances: ListedInstance[];
  /** Keys under /dynamo/ that failed validation (hand-written or from another version). */
  malformed: string[];
}

/** Seconds left on someone else's lease, through etcd's HTTP gateway (-1 = gone, undefined = no answer). */
async function etcdLeaseTtl(endpoints: string[], instanceId: string): Promise<number | undefined> {
  for (const endpoint of endpoints) {
    try {
      const res = await fetch(`${endpoint}/v3/lease/timetolive`, {
        method: 'POST',
        body: JSON.stringify({ ID: leaseFromInstanceId(instanceId) }),
        signal: AbortSignal.timeout(1000),
      });
      const body = (await res.json()) as { TTL?: string };
      return Number(body.TTL ?? -1);
    } catch {
      // try the next endpoint
    }
  }
  return undefined;
}

function buildListing(instanceKvs: KeyValue[], cardKvs: KeyValue[]): Listing {
  const malformed: string[] = [];
  const cards = new Map<string, ModelCard>();
  for (const { key, value } of cardKvs) {
    const parsed = parseDiscoveryKey(key);
    if (parsed && isModelCard(value)) cards.set(parsed.instanceId, value);
    else malformed.push(key);
  }
  const instances: ListedInstance[] = [];
  for (const { key, value } of instanceKvs) {
    if (isInstanceInfo(value)) instances.push({ ...value, model: cards.get(value.instanceId)?.displayName });
    else malformed.push(key);
  }
  const models = new Map<string, ListedModel>();
  for (const [instanceId, card] of cards) {
    const model = models.get(card.displayName) ?? {
      name: card.displayName,
      modelType: card.modelType,
      kvCacheBlockSize: card.kvCacheBlockSize,
      contextLength: card.contextLength,
      totalKvBlocks: 0,
      instances: [],
      tokenizerSources: [],
    };
    model.totalKvBlocks += card.totalKvBlocks;
    model.instances.push(instanceId);
    const source = JSON.stringify(card.tokenizer);
    if (!model.tokenizerSources.some((s) => JSON.stringify(s) === source)) {
      model.tokenizerSources.push(card.tokenizer);
    }
    models.set(card.displayName, model);
  }
  return { models: [...models.values()], instances, malformed };
}

/** Read the registry once. */
export async function listRegistry(options: DiscoveryOptions, namespace?: string): Promise<Listing> {
  const discovery = await createDiscovery({ connectTimeoutMs: 2000, ...options });
  try {
    const scope = namespace === undefined ? {} : { namespace };
    const [instanceKvs, cardKvs] = await Promise.all([
      discovery.list(instancesPrefix(scope)),
      discovery.list(modelCardsPrefix(scope)),
    ]);
    const listing = buildListing(instanceKvs, cardKvs);
    if (discovery.backend === 'etcd') {
      const endpoints = resolveEtcdEndpoints(options.etcdEndpoints);
      await Promise.all(
        listing.instances.map(async (i) => {
          i.leaseTtlSeconds = await etcdLeaseTtl(endpoints, i.instanceId);
        }),
      );
    }
    return listing;
  } finally {
    await discovery.close();
  }
}

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]?.length ?? 0)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}

function printListing(listing: Listing): void {
  if (listing.instances.length === 0 && listing.models.length === 0) {
    console.log('No workers registered. Start one with `dhw worker` (and check it uses the same discovery).');
  } else {
    const modelRows = listing.models.map((m) => [
      m.name,
      m.modelType,
      String(m.instances.length),
      String(m.kvCacheBlockSize),
      String(m.totalKvBlocks),
      String(m.contextLength),
    ]);
    console.log(table(['MODEL', 'TYPE', 'INSTANCES', 'BLOCK SIZE', 'KV BLOCKS', 'CONTEXT'], modelRows));
    console.log('');
    const instanceRows = listing.instances.map((i) => [
      i.instanceId,
      `${i.namespace}/${i.component}/${i.endpoint}`,
      i.transport.tcp,
      i.systemPort === undefined ? '-' : String(i.systemPort),
      i.pid === undefined ? '-' : `${i.pid}@${i.hostname ?? '?'}`,
      i.model ?? '(no card)',
      i.leaseTtlSeconds === undefined ? '-' : i.leaseTtlSeconds < 0 ? 'expired' : `${i.leaseTtlSeconds} s`,
    ]);
    console.log(
      table(
        ['INSTANCE', 'ENDPOINT', 'ADDRESS', 'STATUS PORT', 'PROCESS', 'MODEL', 'LEASE TTL'],
        instanceRows,
      ),
    );
  }
  if (listing.malformed.length > 0) {
    console.log(`\n${listing.malformed.length} malformed key(s) skipped: ${listing.malformed.join(', ')}`);
  }
}

export const lsCommand: Command = {
  name: 'ls',
  summary: 'list registered models and worker instances (discovery)',
  async run(argv) {
    const parsed = beginCommand(argv, { usage: USAGE, description: DESCRIPTION, flags: FLAGS });
    if (!parsed) return 0;
    const { values } = parsed;
    const options = discoveryOptionsFromFlags(values, ['etcd', 'file']);
    const sdFile = stringFlag(values, 'prometheus-sd');
    const every = numberFlag(values, 'every', { min: 1 });
    if (every !== undefined && sdFile === undefined)
      throw new UsageError('--every needs --prometheus-sd FILE');
    if (sdFile !== undefined)
      return writeTargets(sdFile, every, () => listRegistry(options, stringFlag(values, 'namespace')));
    const listing = await listRegistry(options, stringFlag(values, 'namespace'));
    if (values.json) console.log(JSON.stringify(listing, null, 2));
    else printListing(listing);
    return 0;
  },
};

/** `--prometheus-sd FILE [--every S]`: write the targets once, or keep rewriting them until Ctrl-C. */
async function writeTargets(
  file: string,
  everySeconds: number | undefined,
  list: () => Promise<Listing>,
): Promise<number> {
  const writeOnce = async () => {
    const groups = fileSdGroups((await list()).instances);
    writeFileSd(file, groups);
    console.error(`${groups.length} worker target(s) → ${file}`);
  };
  await writeOnce();
  if (everySeconds === undefined) return 0;
  const stop = new AbortController();
  process.once('SIGINT', () => stop.abort());
  process.once('SIGTERM', () => stop.abort());
  while (!stop.signal.aborted) {
    await new Promise((resolve) => {
      const timer = setTimeout(resolve, everySeconds * 1000);
      stop.signal.addEventListener('abort', () => {
        clearTimeout(timer);
        resolve(undefined);
      });
    });
    if (!stop.signal.aborted) {
      try {
        await writeOnce();
      } catch (err) {
        // Keep the last good file: Prometheus keeps scraping it while discovery is unreachable.
        console.error(`dhw ls: ${(err as Error).message} (kept the previous ${file})`);
      }
    }
  }
  return 0;
}
