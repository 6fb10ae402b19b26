/**
 * `dhw worker`: one backend process. Hosts an engine (scratch or mocker), serves it on the request plane,
 * registers itself in discovery under a lease, publishes KV events and load on the event plane, and
 * answers /health, /live and /metrics on its status port. Like starting one service instance that
 * registers with Consul: start several, on as many machines as you like, and the frontend finds them all.
 *
 * Ctrl-C / SIGTERM: unregister, drain in-flight requests, exit 0 (a second signal exits at once).
 * Lost discovery lease: keep serving in-flight requests and register again once etcd answers (exit 3 with
 * --exit-on-lease-loss). Unreachable etcd or NATS at start: a clear error and exit 1.
 */
import { ENGINE_DEFAULTS, type EngineOptions, PipelineStageServer } from '../../engine/index.ts';
import { MOCKER_DEFAULTS, type MockEngineOptions } from '../../mocker/index.ts';
import { getLogger } from '../../util/logger.ts';
import {
  EXIT_LEASE_LOST,
  MODEL_CARD_STORE_KINDS,
  type ModelCardStoreKind,
  specModelDir,
  Worker,
  type WorkerEngineSpec,
  type WorkerOptions,
  zmqAddress,
} from '../../worker/index.ts';
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
import { KV_TRANSFER_FLAGS, kvTransferFromFlags, ROLE_FLAG, roleFromFlags } from '../disagg-flags.ts';
import { engineOptionsFromFlags, modelDirFromFlags } from '../engine-setup.ts';
import {
  DISCOVERY_FLAGS,
  discoveryOptionsFromFlags,
  EVENTS_FLAGS,
  eventsBackendFlag,
} from '../runtime-flags.ts';
import { CLUSTER_FLAGS, clusterEvents, clusterFromFlags, withClusterDiscovery } from '../security-flags.ts';
import { firstSignal } from '../signals.ts';
import { EXTERNAL_ENGINE_FLAGS, externalEngineSpec } from './worker-engines.ts';

const PER_ENGINE_DEFAULTS: Record<string, string> = {
  'block-size': `default: ${ENGINE_DEFAULTS.blockSize}`,
  'max-num-seqs': `default: scratch ${ENGINE_DEFAULTS.maxNumSeqs}, mocker ${MOCKER_DEFAULTS.maxNumSeqs}`,
  'max-num-batched-tokens': `default: scratch ${ENGINE_DEFAULTS.maxNumBatchedTokens}, mocker ${MOCKER_DEFAULTS.maxNumBatchedTokens}`,
  'num-kv-blocks': `mocker default: ${MOCKER_DEFAULTS.numKvBlocks}`,
};

/** Engine flags without their defaults: the scratch engine and the mocker default differently. */
const WORKER_ENGINE_FLAGS: FlagSpecs = Object.fromEntries(
  Object.entries(ENGINE_FLAGS).map(([name, { default: _, ...spec }]) => {
    const defaults = PER_ENGINE_DEFAULTS[name];
    return [name, defaults ? { ...spec, help: `${spec.help} (${defaults})` } : spec];
  }),
);

const FLAGS = {
  engine: {
    type: 'string' as const,
    default: 'scratch',
    help: 'scratch (real model) | mocker (simulated) | llamacpp (--model FILE.gguf) | openai (--upstream URL)',
  },
  ...MODEL_FLAGS,
  'served-model-name': { type: 'string' as const, help: 'model name clients use (default: the folder name)' },
  ...ROLE_FLAG,
  ...KV_TRANSFER_FLAGS,
  ...DISCOVERY_FLAGS,
  'lease-ttl': { type: 'string' as const, default: '10', help: 'discovery lease TTL in seconds' },
  'exit-on-lease-loss': {
    type: 'boolean' as const,
    help: 'exit (code 3) when the discovery lease is lost, for a supervisor to restart (default: register again)',
  },
  ...EVENTS_FLAGS,
  'kv-events': {
    type: 'string' as const,
    help: "zmq://HOST:PORT: publish a vLLM engine's KV events (its kv-events-config endpoint) instead of this engine's",
  },
  'kv-events-replay': {
    type: 'string' as const,
    help: "zmq://HOST:PORT: that vLLM's replay endpoint, to repair gaps in --kv-events (default: none)",
  },
  ...CLUSTER_FLAGS,
  'model-card-store': {
    type: 'string' as const,
    help: 'where the model card files travel: nats (object store; default with etcd + nats) | model-dir (a path)',
  },
  namespace: { type: 'string' as const, default: 'dynamo', help: 'Dynamo namespace' },
  component: {
    type: 'string' as const,
    help: 'component name (default: backend; prefill for --role prefill)',
  },
  endpoint: { type: 'string' as const, default: 'generate', help: 'endpoint name registered in discovery' },
  host: {
    type: 'string' as const,
    default: '127.0.0.1',
    help: 'address the request plane, status port and KV transfer listener bind (0.0.0.0 needs --advertise-host)',
  },
  'advertise-host': {
    type: 'string' as const,
    help: 'address published in discovery for others to dial (default: --host; e.g. the node address 10.77.0.2)',
  },
  port: { type: 'string' as const, default: '0', help: 'request-plane TCP port (0 = a free one)' },
  'request-plane-unix': {
    type: 'string' as const,
    default: 'on',
    help: 'on | off: also serve the request plane on a Unix socket in $TMPDIR; frontends on this host use it',
  },
  'system-port': {
    type: 'string' as const,
    default: '0',
    help: 'status port: /health /live /metrics (0 = free)',
  },
  'canary-interval': {
    type: 'string' as const,
    default: '10',
    help: 'seconds between idle health canaries (0 = off)',
  },
  'drain-timeout': {
    type: 'string' as const,
    default: '10',
    help: 'seconds in-flight requests get at shutdown',
  },
  ...WORKER_ENGINE_FLAGS,
  'speedup-ratio': {
    type: 'string' as const,
    default: '1',
    help: 'mocker: simulated time divisor (0 = no sleeps)',
  },
  'eos-probability': { type: 'string' as const, default: '0', help: 'mocker: per-token chance of ending' },
  ...EXTERNAL_ENGINE_FLAGS,
  'pipeline-stage': {
    type: 'string' as const,
    help: 'run pipeline stage K (1..N-1) of --pipeline-parallel-size N instead of a worker: listens on --host:--port',
  },
  'pipeline-stage-addresses': {
    type: 'string' as const,
    help: 'stage 0 (the worker): HOST:PORT of stages 1..N-1, comma-separated (default: spawn them here)',
  },
  ...LOGGING_FLAGS,
};
const USAGE =
  'dhw worker [--engine scratch|mocker|llamacpp|openai] [--model DIR|FILE.gguf] [--upstream URL] [--role aggregated|prefill|decode] ' +
  '[--kv-transfer auto|tcp|unix|shm|none] [--discovery etcd|file|memory] [--events nats|memory] [--kv-events zmq://HOST:PORT] ' +
  '[--namespace dynamo] [--component backend] [--port 0] [--system-port 0] [engine options]';
const DESCRIPTION = [
  'Run one backend worker: serve an engine on the request plane and register it in discovery.',
  'Disaggregated serving: --role prefill workers compute prompts and hold their KV blocks (--kv-hold-timeout);',
  '--role decode workers pull those blocks with their transfer agent (--kv-transfer) and generate. Mocker',
  'workers only simulate the pull on --kv-link.',
  'Environment (Dynamo names): ETCD_ENDPOINTS (etcd URLs, comma-separated), NATS_SERVER (NATS URL).',
  'Flags win over the environment.',
  'Pipeline parallelism: --pipeline-parallel-size N spawns stages 1..N-1 here; for stages on other hosts run',
  '`dhw worker --pipeline-stage K --pipeline-parallel-size N --host H --port P` there and pass',
  '--pipeline-stage-addresses H:P,... to the worker (stage 0). --role prefill|decode is refused with N > 1.',
  'External engines (docs/engines.md): --engine llamacpp --model FILE.gguf [--tokenizer DIR] runs llama.cpp',
  '(install once: npm --prefix engines/llama-cpp ci); --engine openai --upstream URL [--model TOKENIZER_DIR]',
  'relays to an OpenAI-compatible server. Both publish KV events derived from what they keep or sent.',
  'Exit codes: 0 stopped by a signal, 1 startup error, 3 discovery lease lost (with --exit-on-lease-loss).',
].join('\n');

function engineSpecFromFlags(values: ParsedCommand['values'], modelDir: string): WorkerEngineSpec {
  const kind = stringFlag(values, 'engine') ?? 'scratch';
  const modelName = stringFlag(values, 'served-model-name');
  const base: EngineOptions = { ...engineOptionsFromFlags(values, modelDir), modelName };
  if (kind === 'scratch') return { kind, options: base };
  if (kind === 'mocker') {
    const options: MockEngineOptions = {
      modelName,
      blockSize: base.blockSize,
      numKvBlocks: base.numKvBlocks,
      maxNumSeqs: base.maxNumSeqs,
      maxNumBatchedTokens: base.maxNumBatchedTokens,
      enablePrefixCaching: base.enablePrefixCaching,
      speedupRatio: numberFlag(values, 'speedup-ratio', { min: 0 }),
      eosProbability: numberFlag(values, 'eos-probability', { min: 0 }),
    };
    return { kind, modelDir, options };
  }
  if (kind === 'llamacpp' || kind === 'openai') {
    // Reached from `dhw serve`: external engines need flags (a GGUF file, an upstream) it does not take.
    throw new UsageError(
      `--engine ${kind} runs under \`dhw worker\` only: start \`dhw worker --engine ${kind} ...\` next to a \`dhw frontend\` (docs/engines.md)`,
    );
  }
  throw new UsageError(`--engine must be scratch, mocker, llamacpp or openai, got ${JSON.stringify(kind)}`);
}

function modelCardStoreFlag(values: ParsedCommand['values']): ModelCardStoreKind | undefined {
  const value = stringFlag(values, 'model-card-store');
  if (value === undefined || (MODEL_CARD_STORE_KINDS as readonly string[]).includes(value)) {
    return value as ModelCardStoreKind | undefined;
  }
  throw new UsageError(`--model-card-store must be nats or model-dir, got ${JSON.stringify(value)}`);
}

export function workerOptionsFromFlags(
  values: ParsedCommand['values'],
  modelDir: string,
  engine: WorkerEngineSpec = engineSpecFromFlags(values, modelDir),
): WorkerOptions {
  const seconds = (name: string) => numberFlag(values, name, { min: 0 });
  const canary = seconds('canary-interval');
  const drain = seconds('drain-timeout');
  const role = roleFromFlags(values);
  const cluster = clusterFromFlags(values);
  return {
    engine,
    role,
    kvTransfer: kvTransferFromFlags(values, role, engine.kind),
    servedModelName: stringFlag(values, 'served-model-name'),
    namespace: stringFlag(values, 'namespace'),
    component: stringFlag(values, 'component'),
    endpoint: stringFlag(values, 'endpoint'),
    discovery: withClusterDiscovery(discoveryOptionsFromFlags(values), cluster),
    events: {
      backend: eventsBackendFlag(values),
      ...clusterEvents(stringFlag(values, 'nats-server'), cluster),
    },
    clusterSecret: cluster.clusterSecret,
    modelCardStore: modelCardStoreFlag(values),
    host: stringFlag(values, 'host'),
    advertiseHost: stringFlag(values, 'advertise-host'),
    port: numberFlag(values, 'port', { integer: true, min: 0 }),
    requestPlaneUnix: onOffFlag(values, 'request-plane-unix'),
    systemPort: numberFlag(values, 'system-port', { integer: true, min: 0 }),
    canaryIntervalMs: canary === undefined ? undefined : canary * 1000,
    drainMs: drain === undefined ? undefined : drain * 1000,
    exitOnLeaseLoss: values['exit-on-lease-loss'] === true,
    kvEvents: kvEventsFromFlags(values),
  };
}

/** An on | off flag; anything else is a UsageError naming it. */
function onOffFlag(values: ParsedCommand['values'], name: string): boolean | undefined {
  const value = stringFlag(values, name);
  if (value === undefined) return undefined;
  if (value !== 'on' && value !== 'off')
    throw new UsageError(`--${name} must be on or off, got ${JSON.stringify(value)}`);
  return value === 'on';
}

/** `--kv-events zmq://HOST:PORT [--kv-events-replay zmq://HOST:PORT]`, checked before anything starts. */
function kvEventsFromFlags(values: ParsedCommand['values']): WorkerOptions['kvEvents'] {
  const endpoint = stringFlag(values, 'kv-events');
  const replayEndpoint = stringFlag(values, 'kv-events-replay');
  if (endpoint === undefined) {
    if (replayEndpoint !== undefined)
      throw new UsageError('--kv-events-replay needs --kv-events zmq://HOST:PORT');
    return undefined;
  }
  try {
    zmqAddress(endpoint);
    if (replayEndpoint !== undefined) zmqAddress(replayEndpoint);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  return replayEndpoint === undefined ? { endpoint } : { endpoint, replayEndpoint };
}

/**
 * `dhw worker --pipeline-stage K --pipeline-parallel-size N`: one stage process of a pipeline whose stage 0
 * (a worker started with --pipeline-stage-addresses) runs elsewhere. It does not register in discovery:
 * the pipeline is ONE instance, registered by stage 0.
 */
async function runPipelineStage(values: ParsedCommand['values'], modelDir: string): Promise<number> {
  const stage = numberFlag(values, 'pipeline-stage', { integer: true, min: 1 })!;
  const numStages = numberFlag(values, 'pipeline-parallel-size', { integer: true, min: 2 });
  if (numStages === undefined)
    throw new UsageError('--pipeline-stage needs --pipeline-parallel-size N (N >= 2)');
  const engine = engineOptionsFromFlags(values, modelDir);
  const server = await PipelineStageServer.start({
    modelDir,
    stage,
    numStages,
    host: stringFlag(values, 'host'),
    port: numberFlag(values, 'port', { integer: true, min: 0 }),
    threads: engine.threads,
    weightDtype: engine.weightDtype,
  });
  const { start, end } = server.model.part;
  console.log(
    `Pipeline stage ${stage} of ${numStages} (layers ${start}-${end - 1}) listening on ${server.address} (Ctrl-C to stop)`,
  );
  const signals = firstSignal(() => process.exit(1));
  await signals.received;
  signals.dispose();
  await server.close();
  return 0;
}

export const workerCommand: Command = {
  name: 'worker',
  summary: 'run one backend worker: engine + request plane + discovery registration',
  async run(argv) {
    const parsed = beginCommand(argv, { usage: USAGE, description: DESCRIPTION, flags: FLAGS });
    if (!parsed) return 0;
    const { values, positionals } = parsed;
    const log = getLogger('worker');
    // llamacpp's --model is a GGUF file and openai's a tokenizer folder: their specs come first.
    const external = externalEngineSpec(stringFlag(values, 'engine') ?? 'scratch', values, positionals[0]);
    const modelDir = external ? specModelDir(external) : modelDirFromFlags(values, positionals[0]);
    if (values['pipeline-stage'] !== undefined) return runPipelineStage(values, modelDir);
    const options = workerOptionsFromFlags(values, modelDir, external);
    const signals = firstSignal((signal) => {
      log.warn('second signal: exiting without draining', { signal });
      process.exit(1);
    });
    let worker: Worker;
    try {
      worker = await Worker.start(options);
    } catch (err) {
      signals.dispose();
      throw err;
    }
    // The role goes last: scripts and tests match "Worker <id> serving <model> on <address>, status <url>".
    const role = worker.role === 'aggregated' ? '' : `role ${worker.role}; `;
    const status =
      worker.systemPort === undefined ? '' : `, status http://${options.host}:${worker.systemPort}/health`;
    console.log(
      `Worker ${worker.instanceId} serving ${worker.modelCard.displayName} on ${worker.address}${status} (${role}Ctrl-C to stop)`,
    );
    // firstSignal also resolves when the process that started us is gone (`dhw serve`, `npm start &`).
    const outcome = await Promise.race([
      signals.received.then((signal) => ({ signal })),
      worker.exited.then((exit) => ({ exit })),
    ]);
    if ('signal' in outcome) {
      log.info('shutting down', { signal: outcome.signal });
      await worker.stop();
    }
    const exit = await worker.exited;
    signals.dispose();
    return exit.reason === 'lease-lost' ? EXIT_LEASE_LOST : 0;
  },
};
