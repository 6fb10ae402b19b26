/**
 * The worker's transfer agent as one part of its assembly (worker-parts.ts): our NIXL agent named by the
 * instance id, the engine's KV block pool registered as region "kv", metadata in discovery under the
 * worker's lease, peers learnt from discovery, release notifications handed to the engine, and the engine's
 * KvConnector plugged in. Like a NIC driver a service loads at start: register memory, bring the link up,
 * announce the address, and take it all down again in reverse order at stop.
 *
 *   start  agent ─► register "kv" ─► listen (tcp/unix/memory) ─► follow peers ─► layer-wise pusher and
 *          inbox (kv-push-wiring.ts) ─► on notif "release:r" → engine.releaseHeld(r), "kv-*" → push wiring
 *          ─► engine.setKvConnector ─► publish metadata (peers may now pull)
 *   stop   (after the drain) wait for held blocks to be pulled ─► unpublish ─► unplug ─► close agent
 *
 * Scratch workers move real bytes (AgentKvConnector); mocker workers have no tensors, so their pulls are
 * charged on a simulated link (the mocker's SimulatedKvConnector) and only the release notification moves.
 */
import type { Clock, EngineCore, KvConnector } from '../engine/index.ts';
import { LlmEngine, realClock } from '../engine/index.ts';
import { SimulatedKvConnector } from '../mocker/index.ts';
import { statfsSync } from 'node:fs';
import type { KvCacheTensors } from '../model/index.ts';
import { parseReleaseNotification, releaseNotification } from '../protocols/kv-transfer.ts';
import type { Discovery } from '../runtime/discovery/index.ts';
import {
  AgentDirectory,
  type KvRegion,
  type KvTransport,
  MemoryTransport,
  publishAgentMetadata,
  ShmTransport,
  StreamTransport,
  TransferAgent,
} from '../transfer/index.ts';
import type { CleanupStack } from '../util/cleanup-stack.ts';
import type { ClusterSecret } from '../util/cluster-secret.ts';
import { parseLinkSpec } from '../util/link-spec.ts';
import type { Logger } from '../util/logger.ts';
import { AgentKvConnector, checkNotExpired, ensurePeer, KV_REGION } from './agent-kv-connector.ts';
import { AgentKvStager } from './agent-kv-stager.ts';
import { startLayerwisePush } from './kv-push-wiring.ts';
import { putUnderLease } from './lease-at-start.ts';
import { WorkerError } from './errors.ts';
import type { SimulatedKvSpec } from './worker-engine.ts';
import {
  type KvTransferMode,
  WORKER_DEFAULTS,
  type WorkerKvTransferOptions,
  type WorkerRole,
} from './worker-options.ts';

export interface KvTransferPart {
  readonly agent: TransferAgent;
  /** Where the agent's metadata lives in discovery (deleted at stop; gone with the lease on a crash). */
  readonly metadataKey: string;
  /**
   * Stop: wait up to `ms` for decode workers to pull what this prefill worker still holds (their pulls
   * would fail once the agent closes, and they would prefill those prompts again).
   */
  awaitHeldPulled(ms: number): Promise<void>;
  /** Blocks staged into the shm mirror for held requests (0 without shm or on a decode-only worker). */
  stagedBlocks(): number;
  /** Layer-wise WRITEs this worker made as a prefill worker, by outcome, and their bytes. */
  layerPushes(): { ok: number; error: number; bytes: number };
  /** The lease is gone, and the metadata key with it: do not try to delete it (etcd may be unreachable). */
  forget(): void;
  /** Put the metadata again (under the renewed lease, after `forget`). */
  republish(): Promise<void>;
}

export interface KvTransferPartDeps {
  engine: EngineCore;
  discovery: Discovery;
  namespace: string;
  /** Agent name: the worker's instance id (what the engine puts in kvTransferParams.remoteAgent). */
  instanceId: string;
  role: WorkerRole;
  options: WorkerKvTransferOptions;
  /** The worker's bind address: the TCP data port listens there too. */
  host: string;
  /** What the agent publishes for its TCP endpoint (the worker's --advertise-host). */
  advertiseHost: string;
  /** Peers must prove it when they open a data connection (--cluster-secret-file). */
  clusterSecret?: ClusterSecret;
  /** Engines without tensors (mocker): how their pulls are simulated. */
  simulated: SimulatedKvSpec;
  log: Logger;
}

/**
 * Whether `--kv-transfer shm` can add shared memory: only with real KV tensors (a mocker has nothing to
 * stage), without a cluster secret (shm's control socket has no handshake; its directory is 0700, same user
 * only), and when /dev/shm can hold a mirror of the whole pool (the most it grows to: docker's default
 * /dev/shm is 64 MiB). `auto` never offers shm: measured with real workers (bench:transfer-workers), a
 * decode worker pulls within milliseconds of the prefill's answer, so its READ waits for the staging copy
 * and shm's two copies run one after the other, where a Unix socket overlaps its two: 1.04-1.98x the Unix
 * pull time. shm pays when pulls come after staging has finished (decode workers with a queue).
 */
export function shmOfferVerdict(
  poolBytes: number | undefined,
  clusterSecret: ClusterSecret | undefined,
  shmDir = '/dev/shm',
): { offer: boolean; why?: string } {
  if (poolBytes === undefined) return { offer: false, why: 'no KV tensors to stage (mocker)' };
  if (clusterSecret !== undefined) return { offer: false, why: 'a cluster secret is set' };
  let free = 0;
  try {
    const stats = statfsSync(shmDir);
    free = stats.bavail * stats.bsize;
  } catch {
    return { offer: false, why: `${shmDir} does not exist` };
  }
  if (free < poolBytes)
    return {
      offer: false,
      why: `${shmDir} has ${mib(free)} MiB free, a mirror of the KV pool may need ${mib(poolBytes)} MiB (docker: --shm-size)`,
    };
  return { offer: true };
}

const mib = (bytes: number) => Math.floor(bytes / 2 ** 20);

/** The transports a mode stands for (none: no agent at all). */
export function transportsFor(
  mode: KvTransferMode,
  role: WorkerRole,
  host: string,
  advertiseHost: string,
  clusterSecret?: ClusterSecret,
  offerShm = clusterSecret === undefined,
): KvTransport[] {
  const tcp = () => new StreamTransport('tcp', { host, advertiseHost, clusterSecret });
  const unix = () => new StreamTransport('unix', { clusterSecret });
  const shm = () => (offerShm ? [new ShmTransport()] : []);
  switch (mode) {
    case 'auto':
      return role === 'aggregated' ? [] : [tcp(), unix()];
    case 'tcp':
      return [tcp()];
    case 'unix':
      return [unix()];
    case 'shm':
      if (clusterSecret !== undefined)
        throw new WorkerError(
          '--kv-transfer shm cannot check a cluster secret (--cluster-secret-file): use --kv-transfer unix or auto',
        );
      // Shared memory added to the stream transports: same-host peers prefer it, others keep tcp.
      return [tcp(), unix(), ...shm()];
    case 'memory':
      return [new MemoryTransport()];
    case 'none':
      return [];
  }
}

function kvPoolBytes(tensors: KvCacheTensors): number {
  let bytes = 0;
  for (let l = 0; l < tensors.numLayers; l++)
    bytes += (tensors.key[l]?.byteLength ?? 0) + (tensors.value[l]?.byteLength ?? 0);
  return bytes;
}

/** The engine's KV pool as a transfer region: the agent references the tensors, never copies them. */
export function kvRegionOf(tensors: KvCacheTensors): KvRegion {
  return {
    name: KV_REGION,
    layout: {
      numLayers: tensors.numLayers,
      blockSize: tensors.blockSize,
      numKvHeads: tensors.numKvHeads,
      headDim: tensors.headDim,
      dtype: 'f32',
    },
    numBlocks: tensors.numBlocks,
    layers: tensors.key.map((k, l) => ({ k, v: tensors.value[l] as Float32Array })),
  };
}

/** Build the part (undefined when the mode means no agent); every release goes on `stack` as it is taken. */
export async function startKvTransferPart(
  deps: KvTransferPartDeps,
  stack: CleanupStack,
): Promise<KvTransferPart | undefined> {
  const { engine, discovery, namespace, instanceId, role, log } = deps;
  const mode = deps.options.mode ?? 'auto';
  // Only --kv-transfer shm can offer shared memory: check /dev/shm (a statfs) for that mode alone.
  let offerShm = false;
  if (mode === 'shm') {
    const poolBytes = engine instanceof LlmEngine ? kvPoolBytes(engine.kvTensors) : undefined;
    const verdict = shmOfferVerdict(poolBytes, deps.clusterSecret);
    offerShm = verdict.offer;
    if (!verdict.offer)
      log.warn('--kv-transfer shm: not offering shared memory; same-host peers use Unix sockets', {
        reason: verdict.why,
      });
  }
  const transports = transportsFor(mode, role, deps.host, deps.advertiseHost, deps.clusterSecret, offerShm);
  if (transports.length === 0) {
    if (role === 'prefill')
      throw new WorkerError(
        `a prefill worker needs a transfer agent (decode workers pull its KV through it), but --kv-transfer is ` +
          `${mode}. Use --kv-transfer auto, tcp or unix.`,
      );
    if (role === 'decode')
      log.warn('decode worker without a transfer agent (--kv-transfer none): every prompt is prefilled here');
    return undefined;
  }

  const agent = stack.adopt(
    new TransferAgent({ name: instanceId, transports }),
    (a) => a.close(),
    'close transfer agent',
  );
  if (engine instanceof LlmEngine) agent.registerRegion(kvRegionOf(engine.kvTensors));
  const metadata = await agent.start();
  stack.adopt(
    await AgentDirectory.follow(discovery, namespace, agent, {
      onInvalid: (err) => log.warn('skipped invalid transfer-agent metadata in discovery', { error: err }),
    }),
    (d) => d.close(),
    'stop following transfer agents',
  );
  const peers = { agent, discovery, namespace };
  const pullTimeoutMs = deps.options.pullTimeoutMs ?? WORKER_DEFAULTS.kvPullTimeoutMs;
  // Layer-wise pushes need real tensors (the mocker has none to write): both sides on every scratch worker.
  const push =
    engine instanceof LlmEngine
      ? startLayerwisePush({
          engine,
          agent,
          numLayers: engine.kvTensors.numLayers,
          destinationTimeoutMs: pullTimeoutMs,
          ensurePeer: (peer) => ensurePeer(peers, peer),
          log,
        })
      : undefined;
  if (push !== undefined) stack.defer(() => engine.setKvPusher(undefined), 'unplug the KV pusher');
  stack.defer(
    agent.onNotif((n) => {
      if (push?.onNotif(n.from, n.message)) return;
      releaseOnNotif(engine, log, n.from, n.message);
    }),
    'stop taking transfer notifications',
  );

  const connector =
    engine instanceof LlmEngine
      ? new AgentKvConnector({ ...peers, log, timeoutMs: pullTimeoutMs, inbox: push?.inbox })
      : simulatedPulls(
          new SimulatedKvConnector({
            link: deps.options.link ?? parseLinkSpec(WORKER_DEFAULTS.kvLink),
            kvBytesPerToken: deps.simulated.kvBytesPerToken,
            blockSize: engine.kv.blockSize,
            clock: mockerTime(deps.simulated.speedupRatio),
            notify: async (params) => {
              await ensurePeer(peers, params.remoteAgent);
              await agent.sendNotif(params.remoteAgent, releaseNotification(params.remoteRequestId));
            },
          }),
          log,
        );
  engine.setKvConnector(connector);
  stack.defer(() => engine.setKvConnector(undefined), 'unplug the KV connector');

  let stager: AgentKvStager | undefined;
  if (engine instanceof LlmEngine && transports.some((t) => t.kind === 'shm')) {
    // Prefill side: a held prompt's blocks go into the shm mirror at once, so a same-host decode worker's
    // READ is one preadv from /dev/shm (any role may hold: a decode worker can serve as a prefill worker).
    stager = new AgentKvStager(agent, log);
    const staging = stager;
    engine.setKvStager(staging);
    stack.defer(async () => {
      engine.setKvStager(undefined);
      await staging.settled();
    }, 'stop staging held KV blocks');
  }

  // Last: peers can pull from us only once everything above is in place.
  let metadataKey = '';
  await putUnderLease(discovery, log, 'the transfer agent published its metadata', async () => {
    metadataKey = await publishAgentMetadata(discovery, namespace, metadata);
  });
  let published = true;
  stack.defer(async () => {
    if (published) await discovery.delete(metadataKey);
    published = false;
  }, 'unpublish transfer-agent metadata');
  log.info('transfer agent started', {
    agent: agent.name,
    role,
    endpoints: metadata.endpoints.map((e) => `${e.kind}:${e.address}`),
    regions: metadata.regions.map((r) => `${r.name}(${r.numBlocks} blocks)`),
    simulated: !(engine instanceof LlmEngine),
  });

  return {
    agent,
    metadataKey,
    awaitHeldPulled: (ms) => awaitHeldPulled(engine, ms, log),
    stagedBlocks: () => stager?.stagedBlocks ?? 0,
    layerPushes: () => push?.counts ?? { ok: 0, error: 0, bytes: 0 },
    forget: () => {
      published = false;
    },
    republish: async () => {
      await publishAgentMetadata(discovery, namespace, metadata);
      published = true;
    },
  };
}

/** The mocker's time: its speedup ratio divides every simulated wait, the link's too (0: no waiting). */
function mockerTime(speedupRatio: number): Clock {
  return {
    now: realClock.now,
    sleep: (ms) => (speedupRatio > 0 ? realClock.sleep(ms / speedupRatio) : Promise.resolve()),
  };
}

/**
 * The mocker's pulls, checked and logged like real ones: an expired hold is refused (as a real pull would
 * be), and each pull is one log line with the simulated bytes and time.
 */
function simulatedPulls(simulated: KvConnector, log: Logger): KvConnector {
  return {
    async loadBlocks(plan, signal) {
      checkNotExpired(plan.params);
      const result = await simulated.loadBlocks(plan, signal);
      log.info('kv transfer pulled', {
        requestId: plan.requestId,
        peer: plan.params.remoteAgent,
        remoteRequestId: plan.params.remoteRequestId,
        blocks: plan.localBlockIds.length,
        numTokens: plan.numTokens,
        bytes: result.bytes,
        ms: Math.round(result.ms * 100) / 100,
        transport: 'simulated',
      });
      return { ...result, transport: 'simulated' };
    },
  };
}

/** A peer read our blocks for `remoteRequestId` (or gave up on them): free them now, not at expiry. */
function releaseOnNotif(engine: EngineCore, log: Logger, from: string, message: string): void {
  const requestId = parseReleaseNotification(message);
  if (requestId === undefined) {
    log.warn('ignored a transfer notification that is not a release', { peer: from, message });
    return;
  }
  const released = engine.releaseHeld(requestId);
  // false: the hold had expired already (counted there), or the request id is not ours.
  if (!released) log.warn('release for KV blocks no longer held', { requestId, peer: from });
}

async function awaitHeldPulled(engine: EngineCore, ms: number, log: Logger): Promise<void> {
  const deadline = Date.now() + ms;
  if (engine.heldRequests() === 0) return;
  log.info('waiting for decode workers to pull held KV blocks', {
    heldRequests: engine.heldRequests(),
    heldBlocks: engine.heldBlocks(),
    waitMs: ms,
  });
  while (engine.heldRequests() > 0 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
