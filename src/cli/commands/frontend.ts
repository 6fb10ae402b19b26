/**
 * `dhw frontend`: the OpenAI HTTP server in front of the workers it finds in discovery. Like starting
 * nginx with a service-discovery module: it serves whatever models the registered workers offer, routes
 * each request with the chosen policy, and migrates a request when its worker dies mid-stream.
 *
 * Ctrl-C / SIGTERM: stop accepting, let in-flight requests finish, exit 0.
 */
import { type FrontendOptions, startFrontend } from '../../frontend/index.ts';
import { KV_HAND_OFF_MODES, type KvHandOffMode } from '../../protocols/kv-transfer.ts';
import {
  checkDisaggOptions,
  DEFAULT_ROUTER_POLICY,
  DISAGG_DEFAULTS,
  type DisaggPolicyOptions,
  routerFlagHelp,
} from '../../router/index.ts';
import { getLogger, type Logger } from '../../util/logger.ts';
import {
  type FlagSpecs,
  LOGGING_FLAGS,
  numberFlag,
  type ParsedCommand,
  stringFlag,
  UsageError,
} from '../args.ts';
import type { Command } from '../command.ts';
import { beginCommand } from '../command-prologue.ts';
import { describeListenError, ensurePortFree } from '../port-check.ts';
import { ROUTER_QUEUE_FLAGS, routerQueueFrom } from '../router-queue-flags.ts';
import {
  DISCOVERY_FLAGS,
  discoveryOptionsFromFlags,
  EVENTS_FLAGS,
  eventsBackendFlag,
} from '../runtime-flags.ts';
import {
  API_KEY_FLAGS,
  apiKeyFromFlags,
  CLUSTER_FLAGS,
  clusterEvents,
  clusterFromFlags,
  withClusterDiscovery,
} from '../security-flags.ts';
import { ADMISSION_FLAGS, HTTP_FLAGS, httpOptionsFromFlags, shownUrl } from './frontend-http-flags.ts';
import {
  isFrontendChild,
  PROCESSES_FLAG,
  processesFlag,
  releaseChild,
  reportChildReady,
  runFrontendProcesses,
  untilStopRequested,
} from './frontend-processes.ts';

export { ADMISSION_FLAGS, httpOptionsFromFlags, shownUrl } from './frontend-http-flags.ts';

/** Routing and migration flags (Dynamo's names), shared with `dhw serve`. */
export const ROUTER_FLAGS: FlagSpecs = {
  router: {
    type: 'string',
    default: DEFAULT_ROUTER_POLICY,
    help: routerFlagHelp(),
  },
  'kv-overlap-score-weight': {
    type: 'string',
    default: '1.0',
    help: 'weight of prefill cost in the kv cost',
  },
  'router-temperature': {
    type: 'string',
    default: '0',
    help: 'kv softmax temperature (0 = cheapest worker)',
  },
  'router-decision-log': {
    type: 'string',
    default: 'debug',
    help: 'info | debug | off: one line per decision',
  },
  'router-seed': { type: 'string', help: 'seed for random choices (reproducible routing)' },
  'router-predict-blocks': {
    type: 'string',
    default: 'on',
    help: 'on | off: count blocks just routed as cached until KV events confirm them (off = events only)',
  },
  'router-replica-sync': {
    type: 'string',
    help: 'on | off: share in-flight requests with the other frontends over NATS (default: on with --events nats)',
  },
  'router-kv-replay': {
    type: 'string',
    default: 'snapshot',
    help: 'snapshot | start: on joining, ask each worker for its KV state and tail events from now, or replay the whole KV-event log',
  },
  'migration-limit': {
    type: 'string',
    default: '0',
    help: 'times a request may move to another worker when its worker dies mid-stream',
  },
  'busy-threshold': {
    type: 'string',
    default: '0.95',
    help:
      'KV usage (0..1), reported or counted from requests in flight, at which a worker is busy; ' +
      'all busy → queue (--max-queued-requests) (>1 = off)',
  },
  ...ROUTER_QUEUE_FLAGS,
};

/**
 * Conditional disaggregation (Dynamo's names and defaults), shared with `dhw serve`: they matter once a
 * model has prefill workers (`dhw worker --role prefill`). Read them with `disaggOptionsFromFlags`.
 */
export const DISAGG_FLAGS: FlagSpecs = {
  'max-local-prefill-length': {
    type: 'string',
    default: String(DISAGG_DEFAULTS.maxLocalPrefillLength),
    help: 'prefill on the decode worker when at most this many prompt tokens are not cached there (0 = always remote)',
  },
  'max-prefill-queue-size': {
    type: 'string',
    default: String(DISAGG_DEFAULTS.maxPrefillQueueSize),
    help: 'prefill locally when the least-queued prefill worker has this many remote prefills in flight',
  },
  'kv-transfer-mode': {
    type: 'string',
    default: 'whole',
    help:
      'how a remote prefill hands KV over: whole (the decode worker pulls it after the prefill) or layerwise ' +
      '(the prefill worker pushes each layer as soon as it is computed)',
  },
};

const FLAGS: FlagSpecs = {
  ...DISCOVERY_FLAGS,
  ...EVENTS_FLAGS,
  ...CLUSTER_FLAGS,
  ...API_KEY_FLAGS,
  namespace: { type: 'string', default: 'dynamo', help: 'Dynamo namespace whose workers to serve' },
  'model-cache-dir': {
    type: 'string',
    help: 'where model card files fetched from NATS are cached (default: $TMPDIR/dhw-model-cards)',
  },
  ...ROUTER_FLAGS,
  ...DISAGG_FLAGS,
  ...HTTP_FLAGS,
  ...PROCESSES_FLAG,
  ...ADMISSION_FLAGS,
  ...LOGGING_FLAGS,
};
const USAGE =
  'dhw frontend [--discovery etcd|file|memory] [--events nats|memory] [--router kv-delay] [--migration-limit 0] ' +
  '[--max-local-prefill-length 1000] [--max-prefill-queue-size 2] [--port 8000]';
const DESCRIPTION = [
  'Serve the OpenAI API in front of the workers registered in discovery (start them with `dhw worker`).',
  'Environment (Dynamo names): ETCD_ENDPOINTS, NATS_SERVER (flags win).',
  'With --events memory no KV events can arrive from worker processes: the KV-event policies (kv-delay, the',
  "default; kv, Dynamo's cost; kv-ttft) fall back to kv-approx.",
  'Prefill workers (`dhw worker --role prefill`) of a model make it disaggregated: a request whose uncached',
  'prompt is longer than --max-local-prefill-length is prefilled on one of them, then decoded on a decode worker.',
].join('\n');

/** Policies whose overlap comes from the workers' KV events. */
const NEEDS_KV_EVENTS: readonly string[] = ['kv', 'kv-ttft', 'kv-delay'];

/**
 * `--router kv`, `kv-ttft` and `kv-delay` need KV events. When they cannot reach this process (memory event bus,
 * workers in other processes) the index would stay empty, so use the approximate policy and say so.
 */
export function routerForEvents(spec: string, eventsReachUs: boolean, log: Logger): string {
  if (!NEEDS_KV_EVENTS.includes(spec) || eventsReachUs) return spec;
  log.warn(
    `--router ${spec} needs KV events, which cannot cross processes on the memory event bus: using kv-approx ` +
      `(the router remembers its own decisions). Use --events nats (after \`dhw infra up\`) for ${spec}.`,
  );
  return 'kv-approx';
}

function decisionLogFlag(values: ParsedCommand['values']): 'debug' | 'info' | 'off' {
  const level = stringFlag(values, 'router-decision-log') ?? 'debug';
  if (level !== 'debug' && level !== 'info' && level !== 'off') {
    throw new UsageError(`--router-decision-log must be info, debug or off, got ${JSON.stringify(level)}`);
  }
  return level;
}

function predictBlocksFlag(values: ParsedCommand['values']): boolean {
  const value = stringFlag(values, 'router-predict-blocks') ?? 'on';
  if (value !== 'on' && value !== 'off') {
    throw new UsageError(`--router-predict-blocks must be on or off, got ${JSON.stringify(value)}`);
  }
  return value === 'on';
}

function replicaSyncFlag(values: ParsedCommand['values']): boolean | undefined {
  const value = stringFlag(values, 'router-replica-sync');
  if (value === undefined) return undefined;
  if (value !== 'on' && value !== 'off') {
    throw new UsageError(`--router-replica-sync must be on or off, got ${JSON.stringify(value)}`);
  }
  return value === 'on';
}

function kvReplayFlag(values: ParsedCommand['values']): 'snapshot' | 'start' {
  const value = stringFlag(values, 'router-kv-replay') ?? 'snapshot';
  if (value !== 'snapshot' && value !== 'start') {
    throw new UsageError(`--router-kv-replay must be snapshot or start, got ${JSON.stringify(value)}`);
  }
  return value;
}

/** The routing part of FrontendOptions, from ROUTER_FLAGS. */
export function routingOptionsFromFlags(
  values: ParsedCommand['values'],
): Pick<FrontendOptions, 'router' | 'migrationLimit' | 'busyThreshold' | 'routerReplicaSync' | 'kvReplay'> {
  return {
    router: {
      router: stringFlag(values, 'router') ?? DEFAULT_ROUTER_POLICY,
      overlapScoreWeight: numberFlag(values, 'kv-overlap-score-weight', { min: 0 }),
      temperature: numberFlag(values, 'router-temperature', { min: 0 }),
      seed: numberFlag(values, 'router-seed', { integer: true }),
      decisionLog: decisionLogFlag(values),
      predictBlocks: predictBlocksFlag(values),
      queue: routerQueueFrom(values),
    },
    migrationLimit: numberFlag(values, 'migration-limit', { integer: true, min: 0 }) ?? 0,
    busyThreshold: numberFlag(values, 'busy-threshold', { min: 0 }),
    routerReplicaSync: replicaSyncFlag(values),
    kvReplay: kvReplayFlag(values),
  };
}

/** FrontendOptions.disagg from DISAGG_FLAGS (UsageError naming the flag when a value is not a count). */
export function disaggOptionsFromFlags(values: ParsedCommand['values']): {
  disagg: DisaggPolicyOptions;
  kvTransferMode: KvHandOffMode;
} {
  const disagg: DisaggPolicyOptions = {
    maxLocalPrefillLength:
      numberFlag(values, 'max-local-prefill-length', { integer: true, min: 0 }) ??
      DISAGG_DEFAULTS.maxLocalPrefillLength,
    maxPrefillQueueSize:
      numberFlag(values, 'max-prefill-queue-size', { integer: true, min: 0 }) ??
      DISAGG_DEFAULTS.maxPrefillQueueSize,
  };
  try {
    checkDisaggOptions(disagg);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const mode = String(values['kv-transfer-mode'] ?? 'whole');
  if (!(KV_HAND_OFF_MODES as readonly string[]).includes(mode))
    throw new UsageError(`--kv-transfer-mode must be one of ${KV_HAND_OFF_MODES.join(', ')}, got "${mode}"`);
  return { disagg, kvTransferMode: mode as KvHandOffMode };
}

export const frontendCommand: Command = {
  name: 'frontend',
  summary: 'OpenAI HTTP server + router in front of discovered workers',
  async run(argv) {
    const parsed = beginCommand(argv, { usage: USAGE, description: DESCRIPTION, flags: FLAGS });
    if (!parsed) return 0;
    const { values } = parsed;
    const log = getLogger('frontend');
    const events = eventsBackendFlag(values);
    const routing = routingOptionsFromFlags(values);
    const spec = routing.router?.router ?? DEFAULT_ROUTER_POLICY;
    const router = { ...routing.router, router: routerForEvents(spec, events === 'nats', log) };
    const cluster = clusterFromFlags(values);
    const options: FrontendOptions = {
      ...routing,
      ...disaggOptionsFromFlags(values),
      ...httpOptionsFromFlags(values),
      ...apiKeyFromFlags(values),
      clusterSecret: cluster.clusterSecret,
      router,
      namespace: stringFlag(values, 'namespace'),
      discovery: withClusterDiscovery(discoveryOptionsFromFlags(values), cluster),
      events: { backend: events, ...clusterEvents(stringFlag(values, 'nats-server'), cluster) },
      modelCards: { cacheDir: stringFlag(values, 'model-cache-dir') },
    };
    const host = options.host ?? '0.0.0.0';
    const port = options.port ?? 8000;
    const processes = processesFlag(values.processes);
    // A child shares the primary's listening socket: the port is "taken" by then, and that is fine.
    if (!isFrontendChild()) await ensurePortFree(host, port);
    if (processes > 1 && !isFrontendChild()) {
      return runFrontendProcesses(
        processes,
        log,
        (url, shown) =>
          `Frontend at ${shownUrl(options.host, url, shown)}/v1 (${processes} processes; router ${router.router}) (Ctrl-C to stop)`,
      );
    }
    const frontend = await startFrontend(options).catch((err: unknown) => {
      throw describeListenError(err, host, port);
    });
    const url = shownUrl(options.host, frontend.url, frontend.port);
    if (isFrontendChild()) reportChildReady(frontend.url, frontend.port);
    else {
      const models = frontend.models.list().map((m) => m.name);
      console.log(
        `Frontend at ${url}/v1 (router ${router.router}; models: ${models.join(', ') || 'none yet'}) (Ctrl-C to stop)`,
      );
    }
    const signal = await untilStopRequested();
    log.info('shutting down', { signal });
    await frontend.close();
    releaseChild();
    return 0;
  },
};
