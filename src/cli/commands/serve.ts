/**
 * `dhw serve`: the all-in-one stack (what `npm start` runs): a frontend plus N workers, like a
 * docker-compose file in one command.
 *
 *   default (embedded)       memory discovery + memory events + in-memory request plane, workers in this
 *                            process: no servers needed, `npm ci && npm start` serves the bundled model
 *   --discovery etcd|file    the workers run as `dhw worker` child processes (logs prefixed [worker-i]),
 *                            reached over TCP; stopped when serve exits. Events must cross processes:
 *                            with --events memory, --router kv falls back to kv-approx (with a warning).
 *
 * Engine flags (--engine, --block-size, --num-kv-blocks, ...) pass through to every worker.
 * Ctrl-C / SIGTERM: stop the frontend (drain), then the workers.
 */
import { basename } from 'node:path';
import { startFrontend } from '../../frontend/index.ts';
import { InMemoryRequestPlane } from '../../runtime/request-plane/index.ts';
import { getLogger, type Logger } from '../../util/logger.ts';
import {
  ENGINE_FLAGS,
  type FlagSpecs,
  LOGGING_FLAGS,
  MODEL_FLAGS,
  numberFlag,
  type ParsedCommand,
  stringFlag,
} from '../args.ts';
import type { Command } from '../command.ts';
import { beginCommand } from '../command-prologue.ts';
import { modelDirFromFlags } from '../engine-setup.ts';
import { discoveryBackendFlag, eventsBackendFlag } from '../runtime-flags.ts';
import { untilSignal } from '../signals.ts';
import {
  httpOptionsFromFlags,
  ROUTER_FLAGS,
  routerForEvents,
  routingOptionsFromFlags,
  shownUrl,
} from './frontend.ts';
import {
  type ServeWorkers,
  spawnWorkerProcesses,
  startInProcessWorkers,
  WorkerProcessError,
} from './serve-workers.ts';
import { workerOptionsFromFlags } from './worker.ts';

/** Engine flags without defaults: the scratch engine and the mocker default differently. */
const PASS_THROUGH_ENGINE_FLAGS: FlagSpecs = Object.fromEntries(
  Object.entries(ENGINE_FLAGS).map(([name, { default: _, ...spec }]) => [name, spec]),
);

const WORKER_FLAGS: FlagSpecs = {
  workers: { type: 'string', default: '1', help: 'how many workers to run' },
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
  host: { type: 'string', default: '0.0.0.0', help: 'address the HTTP server listens on' },
  port: { type: 'string', default: '8000', help: 'HTTP port' },
  'max-body-bytes': { type: 'string', default: String(4 << 20), help: 'largest request body (413 above)' },
  ...LOGGING_FLAGS,
};
const USAGE =
  'dhw serve [DIR] [--workers 1] [--engine scratch|mocker] [--discovery memory|etcd|file] [--port 8000]';
const DESCRIPTION = [
  'Serve a model over an OpenAI-compatible HTTP API: a frontend plus N workers.',
  'Default: everything in this process (no servers). With --discovery etcd|file the workers are child',
  'processes (`dhw worker`); use --events nats (after `dhw infra up`) so --router kv sees their KV events.',
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
  'log-level',
  'log-format',
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

async function startWorkers(
  values: ParsedCommand['values'],
  modelDir: string,
  count: number,
  inProcess: InMemoryRequestPlane | undefined,
  log: Logger,
): Promise<ServeWorkers> {
  if (!inProcess) return spawnWorkerProcesses(count, childWorkerArgs(values, modelDir), log);
  const options = {
    ...workerOptionsFromFlags(values, modelDir),
    host: undefined,
    port: undefined,
    systemPort: null,
  };
  return startInProcessWorkers(count, options, inProcess);
}

/** Resolves once `count` workers are routable, or rejects when one of them exits first. */
async function waitForWorkers(instances: () => number, count: number, workers: ServeWorkers): Promise<void> {
  const deadline = Date.now() + CHILD_READY_TIMEOUT_MS;
  let crashed: string | undefined;
  void workers.exited.then((why) => (crashed = why));
  while (instances() < count) {
    if (crashed)
      throw new WorkerProcessError(`a worker failed to start: ${crashed} (see its [worker-i] lines above)`);
    if (Date.now() > deadline) {
      throw new WorkerProcessError(
        `only ${instances()} of ${count} workers registered within ${CHILD_READY_TIMEOUT_MS / 1000} s`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
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
    const count = numberFlag(values, 'workers', { integer: true, min: 1 }) ?? 1;
    const discovery = discoveryBackendFlag(values);
    const events = eventsBackendFlag(values);
    const inProcess = discovery === 'memory' ? new InMemoryRequestPlane() : undefined;
    const routing = routingOptionsFromFlags(values);
    const eventsReachUs = inProcess !== undefined || events === 'nats';
    const router = {
      ...routing.router,
      router: routerForEvents(routing.router?.router ?? 'kv', eventsReachUs, log),
    };
    const http = httpOptionsFromFlags(values);

    log.info('starting workers', { count, mode: inProcess ? 'in-process' : 'child processes', modelDir });
    let workers = inProcess ? await startWorkers(values, modelDir, count, inProcess, log) : undefined;
    const frontend = await startFrontend({
      ...routing,
      ...http,
      router,
      namespace: stringFlag(values, 'namespace'),
      discovery: {
        backend: discovery,
        etcdEndpoints: stringFlag(values, 'etcd-endpoints'),
        fileDir: stringFlag(values, 'discovery-dir'),
      },
      events: { backend: events, natsServer: stringFlag(values, 'nats-server') },
      runtime: inProcess ? { requestPlane: inProcess } : undefined,
    }).catch(async (err) => {
      await workers?.stop();
      throw err;
    });
    try {
      workers ??= await startWorkers(values, modelDir, count, undefined, log);
      await waitForWorkers(() => frontend.models.instances().length, count, workers);
    } catch (err) {
      await frontend.close();
      await workers?.stop();
      throw err;
    }
    const url = shownUrl(http.host, frontend.url, frontend.port);
    const name = stringFlag(values, 'served-model-name') ?? basename(modelDir);
    log.info('serving', { model: name, url, workers: count, router: router.router });
    console.log(
      `Serving ${name} at ${url}/v1 with ${count} worker(s), router ${router.router} (Ctrl-C to stop)`,
    );

    void workers.exited.then((reason) =>
      log.error('a worker stopped unexpectedly; serving with the others', { reason }),
    );
    const signal = await untilSignal();
    log.info('shutting down', { signal });
    await frontend.close();
    await workers.stop();
    log.info('stopped');
    return 0;
  },
};
