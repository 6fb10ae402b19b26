/**
 * `dhw serve`: the all-in-one stack (what `npm start` runs): a frontend plus N workers, like a
 * docker-compose file in one command.
 *
 *   default (embedded)       memory discovery + memory events + in-memory request plane, workers in this
 *                            process: no servers needed, `npm ci && npm start` serves the bundled model
 *   --discovery etcd|file    the workers run as `dhw worker` child processes (logs prefixed [worker-i]),
 *                            reached over TCP; stopped when serve exits. Events must cross processes:
 *                            with --events memory, the KV-event policies (the default kv-delay, kv,
 *                            kv-ttft) fall back to kv-approx (with a warning).
 *
 * Engine flags (--engine, --block-size, --num-kv-blocks, ...) pass through to every worker.
 * `--prefill-workers P --decode-workers D` (instead of --workers N) runs a disaggregated deployment: P
 * `--role prefill` and D `--role decode` workers; embedded, their transfer agents copy KV in memory.
 * `--processes N` (embedded only) runs N such stacks behind one port (node:cluster, frontend-processes.ts),
 * one core each: like N replicas behind a load balancer, each routes to its own workers and caches its own
 * prefixes; connections are dealt out in turn.
 * Ctrl-C / SIGTERM: stop the frontend (drain), then the workers.
 */
import { basename } from 'node:path';
import { startFrontend } from '../../frontend/index.ts';
import { DEFAULT_ROUTER_POLICY } from '../../router/index.ts';
import type { DiscoveryOptions } from '../../runtime/discovery/index.ts';
import { InMemoryRequestPlane } from '../../runtime/request-plane/index.ts';
import { getLogger, type Logger } from '../../util/logger.ts';
import type { WorkerOptions, WorkerRole } from '../../worker/index.ts';
import {
  ENGINE_FLAGS,
  type FlagSpecs,
  LOGGING_FLAGS,
  MODEL_FLAGS,
  numberFlag,
  type ParsedCommand,
  stringFlag,
  UsageError,
} from '../args.ts';
import type { Command } from '../command.ts';
import { beginCommand } from '../command-prologue.ts';
import { KV_TRANSFER_FLAGS, kvTransferFromFlags } from '../disagg-flags.ts';
import { modelDirFromFlags } from '../engine-setup.ts';
import { describeListenError, ensurePortFree } from '../port-check.ts';
import { discoveryBackendFlag, eventsBackendFlag } from '../runtime-flags.ts';
import {
  API_KEY_FLAGS,
  apiKeyFromFlags,
  CLUSTER_FLAGS,
  clusterEvents,
  clusterFromFlags,
  withClusterDiscovery,
} from '../security-flags.ts';
import {
  ADMISSION_FLAGS,
  DISAGG_FLAGS,
  disaggOptionsFromFlags,
  httpOptionsFromFlags,
  ROUTER_FLAGS,
  routerForEvents,
  routingOptionsFromFlags,
  shownUrl,
} from './frontend.ts';
import {
  isFrontendChild,
  PROCESSES_FLAG,
  processesFlag,
  releaseChild,
  reportChildReady,
  runFrontendProcesses,
  untilStopRequested,
} from './frontend-processes.ts';
import {
  combineWorkers,
  describeGroups,
  missingWorkers,
  type ServeWorkers,
  spawnWorkerProcesses,
  startInProcessWorkers,
  type WorkerGroup,
  waitForWorkers,
} from './serve-workers.ts';
import { workerOptionsFromFlags } from './worker.ts';

/** Engine flags without defaults: the scratch engine and the mocker default differently. */
const PASS_THROUGH_ENGINE_FLAGS: FlagSpecs = Object.fromEntries(
  Object.entries(ENGINE_FLAGS).map(([name, { default: _, ...spec }]) => [name, spec]),
);

const WORKER_FLAGS: FlagSpecs = {
  workers: { type: 'string', help: 'how many (aggregated) workers to run (default 1)' },
  'prefill-workers': {
    type: 'string',
    help: 'disaggregated: how many --role prefill workers (with --decode-workers, instead of --workers)',
  },
  'decode-workers': {
    type: 'string',
    help: 'disaggregated: how many --role decode workers (with --prefill-workers, instead of --workers)',
  },
  ...KV_TRANSFER_FLAGS,
  engine: { type: 'string', default: 'scratch', help: 'scratch (real model) | mocker (simulated)' },
  ...MODEL_FLAGS,
  'served-model-name': { type: 'string', help: 'model name clients use (default: the folder name)' },
  ...PASS_THROUGH_ENGINE_FLAGS,
  'speedup-ratio': { type: 'string', help: 'mocker: simulated time divisor (0 = no sleeps)' },
  'eos-probability': { type: 'string', help: 'mocker: per-token chance of ending' },
};

const RUNTIME_FLAGS: FlagSpecs = {
  discovery: { type: 'string', default: 'memory', help: 'memory (workers in this process) | etcd | file' },
  'etcd-endpoints': {
    type: 'string',
    help: 'etcd URLs (default: $ETCD_ENDPOINTS, else http://127.0.0.1:2379)',
  },
  'discovery-dir': {
    type: 'string',
    help: 'directory for --discovery file (default: {tmpdir}/dhw-discovery)',
  },
  'lease-ttl': { type: 'string', help: 'workers: discovery lease TTL in seconds (default 10)' },
  events: { type: 'string', default: 'memory', help: 'memory | nats (KV events and load)' },
  'nats-server': { type: 'string', help: 'NATS URL (default: $NATS_SERVER, else nats://127.0.0.1:4222)' },
  namespace: { type: 'string', default: 'dynamo', help: 'Dynamo namespace' },
};

const FLAGS: FlagSpecs = {
  ...WORKER_FLAGS,
  ...RUNTIME_FLAGS,
  ...ROUTER_FLAGS,
  ...DISAGG_FLAGS,
  ...CLUSTER_FLAGS,
  ...API_KEY_FLAGS,
  host: { type: 'string', default: '0.0.0.0', help: 'address the HTTP server listens on' },
  port: { type: 'string', default: '8000', help: 'HTTP port' },
  processes: {
    ...PROCESSES_FLAG.processes,
    help: 'whole stacks (a frontend and its own workers) sharing --port (node:cluster), one core each; --discovery memory only',
  },
  'max-body-bytes': { type: 'string', default: String(4 << 20), help: 'largest request body (413 above)' },
  ...ADMISSION_FLAGS,
  'allowed-origins': {
    type: 'string',
    help: 'CORS: browser origins allowed to call the API, comma-separated, or * (default: none)',
  },
  ...LOGGING_FLAGS,
};
const USAGE =
  'dhw serve [DIR|FILE.gguf] [--workers 1 | --prefill-workers P --decode-workers D] [--engine scratch|mocker] ' +
  '[--discovery memory|etcd|file] [--port 8000]';
const DESCRIPTION = [
  'Serve a model over an OpenAI-compatible HTTP API: a frontend plus N workers.',
  'Disaggregated: --prefill-workers P --decode-workers D run P prefill and D decode workers; the frontend',
  'sends prompts with more than --max-local-prefill-length uncached tokens to a prefill worker, and the',
  'decode worker pulls their KV (--kv-transfer; mocker workers simulate it on --kv-link).',
  'Default: everything in this process (no servers); --processes N runs N such stacks behind one port, each',
  'with its own workers and router (replicas behind a load balancer: one core each, prefix caches not shared).',
  'With --discovery etcd|file the workers are child processes (`dhw worker`); use --events nats (after',
  '`dhw infra up`) so the router (default kv-delay) sees their KV events.',
].join('\n');

/** How long child workers get to register before serve gives up. */
const CHILD_READY_TIMEOUT_MS = 120_000;

/** Flags forwarded verbatim to `dhw worker` children (when given). */
const FORWARDED = [
  'engine',
  'served-model-name',
  'discovery',
  'etcd-endpoints',
  'discovery-dir',
  'lease-ttl',
  'events',
  'nats-server',
  'namespace',
  ...Object.keys(PASS_THROUGH_ENGINE_FLAGS),
  'speedup-ratio',
  'eos-probability',
  'kv-transfer',
  'kv-hold-timeout',
  'kv-pull-timeout',
  'kv-link',
  'log-level',
  'log-format',
  'cluster-config',
  'cluster-secret-file',
];

function childWorkerArgs(values: ParsedCommand['values'], modelDir: string): string[] {
  const args = ['--model', modelDir];
  for (const name of FORWARDED) {
    const value = values[name];
    if (value === true) args.push(`--${name}`);
    else if (typeof value === 'string') args.push(`--${name}`, value);
  }
  return args;
}

/** `--workers N`, or `--prefill-workers P --decode-workers D`; the two spellings exclude each other. */
export function workerGroupsFromFlags(values: ParsedCommand['values']): WorkerGroup[] {
  const count = (name: string) => numberFlag(values, name, { integer: true, min: 1 });
  const workers = count('workers');
  const prefill = count('prefill-workers');
  const decode = count('decode-workers');
  if (prefill === undefined && decode === undefined) return [{ role: 'aggregated', count: workers ?? 1 }];
  if (workers !== undefined)
    throw new UsageError(
      '--workers runs aggregated workers; --prefill-workers/--decode-workers run a disaggregated deployment. ' +
        'Give one or the other.',
    );
  if (prefill === undefined || decode === undefined)
    throw new UsageError(
      'a disaggregated deployment needs both --prefill-workers P and --decode-workers D (each at least 1); ' +
        'for aggregated workers use --workers N.',
    );
  return [
    { role: 'prefill', count: prefill },
    { role: 'decode', count: decode },
  ];
}

/** Worker options for one group of in-process workers: they share this process, so KV moves in memory. */
function inProcessOptions(
  values: ParsedCommand['values'],
  modelDir: string,
  role: WorkerRole,
): WorkerOptions {
  const options = workerOptionsFromFlags(values, modelDir);
  const kvTransfer = kvTransferFromFlags(values, role, options.engine.kind);
  return {
    ...options,
    role,
    kvTransfer: { ...kvTransfer, mode: kvTransfer.mode === 'auto' ? 'memory' : kvTransfer.mode },
    host: undefined,
    port: undefined,
    systemPort: null,
  };
}

async function startWorkers(
  values: ParsedCommand['values'],
  modelDir: string,
  groups: WorkerGroup[],
  inProcess: InMemoryRequestPlane | undefined,
  log: Logger,
): Promise<ServeWorkers> {
  const started: ServeWorkers[] = [];
  const label = (role: WorkerRole) => (role === 'aggregated' ? 'worker' : role);
  try {
    for (const { role, count } of groups) {
      if (inProcess) {
        const options = inProcessOptions(values, modelDir, role);
        started.push(await startInProcessWorkers(count, options, inProcess, label(role)));
      } else {
        const args = [...childWorkerArgs(values, modelDir), '--role', role];
        started.push(spawnWorkerProcesses(count, args, log, label(role)));
      }
    }
  } catch (err) {
    await combineWorkers(started).stop();
    throw err;
  }
  return combineWorkers(started);
}

export const serveCommand: Command = {
  name: 'serve',
  summary: 'frontend + N workers in one command (npm start)',
  async run(argv) {
    const parsed = beginCommand(argv, { usage: USAGE, description: DESCRIPTION, flags: FLAGS });
    if (!parsed) return 0;
    const { values, positionals } = parsed;
    const log = getLogger('serve');
    const modelDir = modelDirFromFlags(values, positionals[0]);
    const groups = workerGroupsFromFlags(values);
    const engineKind = stringFlag(values, 'engine') ?? 'scratch';
    for (const { role } of groups) kvTransferFromFlags(values, role, engineKind); // usage errors before any start
    const count = groups.reduce((sum, g) => sum + g.count, 0);
    const discovery = discoveryBackendFlag(values);
    const events = eventsBackendFlag(values);
    const processes = processesFlag(values.processes);
    if (processes > 1 && discovery !== 'memory') {
      throw new UsageError(
        `--processes ${processes} runs whole stacks side by side, each with its own workers: it needs --discovery memory. ` +
          'For frontends sharing one set of worker processes, run `dhw frontend --processes N` and `dhw worker`s',
      );
    }
    const inProcess = discovery === 'memory' ? new InMemoryRequestPlane() : undefined;
    const routing = routingOptionsFromFlags(values);
    const eventsReachUs = inProcess !== undefined || events === 'nats';
    const router = {
      ...routing.router,
      router: routerForEvents(routing.router?.router ?? DEFAULT_ROUTER_POLICY, eventsReachUs, log),
    };
    const http = httpOptionsFromFlags(values);
    const disagg = disaggOptionsFromFlags(values);
    // Before any model loads: a taken port is one line, not a stack trace after the load. A child shares
    // the primary's listening socket: the port is "taken" by then, and that is fine.
    if (!isFrontendChild()) await ensurePortFree(http.host ?? '0.0.0.0', http.port ?? 8000);
    const name = stringFlag(values, 'served-model-name') ?? basename(modelDir);
    if (processes > 1 && !isFrontendChild()) {
      return runFrontendProcesses(processes, log, (url, port) => {
        const shown = shownUrl(http.host, url, port);
        return `Serving ${name} at ${shown}/v1 with ${processes} processes × ${describeGroups(groups)}, router ${router.router} (Ctrl-C to stop)`;
      });
    }

    const cluster = clusterFromFlags(values);
    const discoveryOptions: DiscoveryOptions = withClusterDiscovery(
      {
        backend: discovery,
        etcdEndpoints: stringFlag(values, 'etcd-endpoints'),
        fileDir: stringFlag(values, 'discovery-dir'),
      },
      cluster,
    );
    const namespace = stringFlag(values, 'namespace') ?? 'dynamo';
    log.info('starting workers', {
      workers: describeGroups(groups),
      mode: inProcess ? 'in-process' : 'child processes',
      modelDir,
    });
    let workers = inProcess ? await startWorkers(values, modelDir, groups, inProcess, log) : undefined;
    const frontend = await startFrontend({
      ...routing,
      ...disagg,
      ...http,
      ...apiKeyFromFlags(values),
      clusterSecret: cluster.clusterSecret,
      router,
      namespace,
      discovery: discoveryOptions,
      events: { backend: events, ...clusterEvents(stringFlag(values, 'nats-server'), cluster) },
      runtime: inProcess ? { requestPlane: inProcess } : undefined,
    }).catch(async (err) => {
      await workers?.stop();
      throw describeListenError(err, http.host ?? '0.0.0.0', http.port ?? 8000);
    });
    const ready = () =>
      missingWorkers(groups, {
        routable: frontend.models.instances().length,
        prefill: frontend.models.prefillInstances?.().length ?? 0,
      });
    try {
      workers ??= await startWorkers(values, modelDir, groups, undefined, log);
      await waitForWorkers(ready, workers, CHILD_READY_TIMEOUT_MS);
    } catch (err) {
      await frontend.close();
      await workers?.stop();
      throw err;
    }
    const url = shownUrl(http.host, frontend.url, frontend.port);
    log.info('serving', { model: name, url, workers: count, router: router.router });
    if (isFrontendChild()) reportChildReady(frontend.url, frontend.port);
    else {
      console.log(
        `Serving ${name} at ${url}/v1 with ${describeGroups(groups)}, router ${router.router} (Ctrl-C to stop)`,
      );
    }

    if (inProcess) {
      void workers.exited.then((reason) =>
        log.error('a worker stopped unexpectedly; serving with the others', { reason }),
      );
    }
    const signal = await untilStopRequested();
    log.info('shutting down', { signal });
    await frontend.close();
    await workers.stop();
    log.info('stopped');
    releaseChild();
    return 0;
  },
};
