/**
 * Disaggregated serving inside one engine: the glue between the engine loop, the prefill side's hold
 * ledger (kv-holds.ts) and the decode side's pulls (remote-prefill.ts), and the one place KV transfer
 * events are emitted. Like a storage controller's front end: the I/O engines below do the work, this
 * routes each request's KV to the right one and reports completions.
 *
 *   prefill (doRemoteDecode):  finished in update() ─► hold(seq) ─► params on the last output
 *                                                       └─ releaseHeld / expiry / close ─► kv.free
 *   decode (doRemotePrefill):  scheduler admits into `loading` ─► startAdmissions ─► connector.loadBlocks
 *                                 settles ─► finishLoad (run) | failLoad (prefill locally) | free (aborted)
 *
 * Both engines (LlmEngine, MockEngine) get the same behaviour: it lives below the executor.
 */
import type { KvCacheManager } from '../kv/index.ts';
import type { EngineRequest } from '../protocols/engine.ts';
import type { BlockId, RequestId, WorkerId } from '../protocols/ids.ts';
import type { KvTransferParams } from '../protocols/kv-transfer.ts';
import { getLogger } from '../util/logger.ts';
import type { KvConnector, KvHoldStager, KvLayerPusher } from './kv-connector.ts';
import { DEFAULT_KV_HOLD_TIMEOUT_MS, KvHoldLedger } from './kv-holds.ts';
import type { KvTransferEvent, KvTransferListener } from './kv-transfer-events.ts';
import { RemoteKvLoader, RemoteKvLoadError } from './remote-prefill.ts';
import type { RemoteAdmission, ScheduledSequence, Scheduler } from './scheduler.ts';
import type { Sequence } from './sequence.ts';

const log = getLogger('engine');

export interface KvTransferCoordinatorOptions {
  kv: KvCacheManager;
  scheduler: Scheduler;
  workerId: WorkerId;
  connector?: KvConnector;
  /** Prefill side: stages held blocks for same-host readers (the worker's shm mirror). */
  stager?: KvHoldStager;
  holdTimeoutMs?: number;
  /** Restart the engine loop: freed blocks or a finished pull may let waiting work proceed. */
  kick: () => void;
}

export class KvTransferCoordinator {
  private readonly listeners = new Set<KvTransferListener>();
  private readonly holds: KvHoldLedger;
  private readonly loader: RemoteKvLoader;
  private connector: KvConnector | undefined;
  private stager: KvHoldStager | undefined;
  private pusher: KvLayerPusher | undefined;
  /** Held requests whose blocks the stager was given, and which: unstaged before those blocks are freed. */
  private readonly staged = new Map<RequestId, readonly BlockId[]>();
  private warnedNoConnector = false;

  constructor(private readonly opts: KvTransferCoordinatorOptions) {
    this.connector = opts.connector;
    this.stager = opts.stager;
    const freeAndKick = (id: RequestId) => {
      opts.kv.free(id);
      opts.kick();
    };
    this.holds = new KvHoldLedger({
      timeoutMs: opts.holdTimeoutMs ?? DEFAULT_KV_HOLD_TIMEOUT_MS,
      // Unstage first: once freed, the blocks may be reallocated and rewritten by the next step.
      free: (id) => {
        this.unstage(id);
        freeAndKick(id);
      },
      emit: (event) => this.emit(event),
      workerId: String(opts.workerId),
    });
    this.loader = new RemoteKvLoader({
      loaded: (seq, load, result) => {
        opts.scheduler.finishLoad(seq);
        log.debug('pulled prompt KV from the prefill worker', { requestId: seq.requestId, ...result });
        this.emit({ kind: 'loaded', requestId: seq.requestId, ...result, numTokens: load.numTokens });
        opts.kick();
      },
      failed: (seq, load, error) => {
        log.warn('pulling prompt KV failed; prefilling the prompt locally', {
          requestId: seq.requestId,
          workerId: opts.workerId,
          remoteAgent: load.remoteAgent,
          error,
        });
        opts.scheduler.failLoad(seq);
        this.emit({ kind: 'load_failed', requestId: seq.requestId, error, reason: 'load_error' });
        opts.kick();
      },
      release: freeAndKick,
    });
  }

  setConnector(connector: KvConnector | undefined): void {
    this.connector = connector;
  }

  /** Layer-wise prefill: wait (bounded) for the decode worker's destination before the prompt is scheduled. */
  awaitDestination(seq: Sequence): Promise<void> {
    if (seq.pushTo === undefined || this.pusher === undefined) return Promise.resolve();
    return this.pusher.awaitDestination(seq.requestId, seq.pushTo);
  }

  /** Plug in (or remove) the prefill side's layer-wise pusher. */
  setPusher(pusher: KvLayerPusher | undefined): void {
    this.pusher = pusher;
  }

  /**
   * The layer-wise pusher, when this step has a prefill whose last prompt chunk is in it and whose KV goes
   * to a decode worker layer by layer: the forward pass reports each finished layer to it.
   */
  layerListener(scheduled: readonly ScheduledSequence[]): ((layer: number) => void) | undefined {
    const pusher = this.pusher;
    if (pusher === undefined) return undefined;
    const pushing = scheduled
      .filter(
        ({ seq, numNewTokens }) =>
          seq.pushTo !== undefined &&
          seq.status === 'running' && // not aborted while the step was prepared (its blocks are free)
          seq.numComputedTokens + numNewTokens >= seq.numPromptTokens,
      )
      .map(({ seq }) => ({ seq, agent: seq.pushTo!, blocks: this.promptBlocks(seq) }));
    if (pushing.length === 0) return undefined;
    return (layer) => {
      for (const { seq, agent, blocks } of pushing) pusher.layerDone(seq.requestId, agent, layer, blocks);
    };
  }

  /** Plug in (or remove) the prefill side's stager; holds staged by a previous one are unstaged there. */
  setStager(stager: KvHoldStager | undefined): void {
    for (const id of [...this.staged.keys()]) this.unstage(id);
    this.stager = stager;
  }

  /** Held requests whose blocks are staged now. */
  get stagedRequests(): number {
    return this.staged.size;
  }

  onEvent(listener: KvTransferListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  releaseHeld(requestId: RequestId): boolean {
    return this.holds.release(requestId);
  }

  get heldRequests(): number {
    return this.holds.size;
  }

  get heldBlocks(): number {
    return this.holds.blocks;
  }

  get numPendingLoads(): number {
    return this.loader.numPending;
  }

  /** An aborted pull for this id has not settled yet: its blocks are still out, the id is still taken. */
  isSettling(requestId: RequestId): boolean {
    return this.loader.has(requestId);
  }

  /**
   * A request arrives: a held prefill under the same id is released first (the KV cache keys blocks by
   * request id), and the kvTransfer the sequence should act on is returned (no connector → none: the
   * prompt is prefilled locally, reported once in the log and per request as `load_failed`).
   */
  admitRequest(request: EngineRequest): EngineRequest['kvTransfer'] {
    if (this.holds.release(request.requestId)) {
      log.warn('a new request reuses the id of a held prefill; its held blocks were released', {
        requestId: request.requestId,
      });
    }
    const transfer = request.kvTransfer;
    if (transfer === undefined || !('doRemotePrefill' in transfer || 'awaitKvPush' in transfer))
      return transfer;
    if ('awaitKvPush' in transfer && this.connector?.receiveBlocks === undefined) {
      const error = new RemoteKvLoadError('this engine has no KV connector that takes layer-wise pushes');
      log.warn('cannot receive pushed KV: prefilling locally', { requestId: request.requestId, error });
      this.emit({ kind: 'load_failed', requestId: request.requestId, error, reason: 'no_connector' });
      return undefined;
    }
    if (this.connector !== undefined) return transfer;
    if (!this.warnedNoConnector) {
      this.warnedNoConnector = true;
      log.warn('this engine has no KV connector: requests with remote prefill params prefill locally', {
        workerId: this.opts.workerId,
        requestId: request.requestId,
      });
    }
    const error = new RemoteKvLoadError('this engine has no KV connector to pull the prompt KV with');
    this.emit({ kind: 'load_failed', requestId: request.requestId, error, reason: 'no_connector' });
    return undefined;
  }

  /** Act on this step's decode-side admissions: start pulls, send release-only plans, report rejections. */
  startAdmissions(admissions: readonly RemoteAdmission[]): void {
    for (const admission of admissions) {
      const { seq } = admission;
      const connector = this.connector ?? removedConnector;
      if (admission.kind === 'rejected') {
        const error = new RemoteKvLoadError(`cannot pull the prompt KV: ${admission.error}`);
        log.warn('remote prefill params do not fit the request; prefilling locally', {
          requestId: seq.requestId,
          error,
        });
        this.emit({ kind: 'load_failed', requestId: seq.requestId, error, reason: 'invalid_params' });
      } else if (admission.kind === 'load') {
        this.loader.start(connector, seq, admission.plan);
      } else if (admission.kind === 'receive') {
        this.loader.startReceive(connector, seq, admission.plan);
      } else if (admission.kind === 'receive_none') {
        this.loader.notifyOnly(connector, seq, admission.plan);
      } else {
        this.loader.releaseOnly(connector, seq, admission.params);
      }
    }
  }

  /** Cancel a request's pull, if any: its blocks are freed once the pull settles. */
  cancel(requestId: RequestId): void {
    this.loader.cancel(requestId);
    this.pusher?.forget(requestId);
  }

  /**
   * Hold the blocks of this step's finished prefill requests (`holdKvOnFinish`; the scheduler left them
   * allocated). Returns the hand-off each one's last output carries.
   */
  holdFinished(finished: readonly Sequence[]): Map<RequestId, KvTransferParams> {
    const params = new Map<RequestId, KvTransferParams>();
    for (const seq of finished) if (seq.holdKvOnFinish) params.set(seq.requestId, this.hold(seq));
    return params;
  }

  /** Wait for every pull to settle (they were cancelled with their requests), then release every hold. */
  async close(): Promise<void> {
    await this.loader.close();
    const released = this.holds.releaseAll();
    if (released > 0) log.info('released held KV blocks at shutdown', { requests: released });
  }

  private hold(seq: Sequence): KvTransferParams {
    const { kv } = this.opts;
    const table = kv.getBlockTable(seq.requestId);
    const expiresAtMs = this.holds.hold(seq.requestId, table.length);
    const promptBlocks = this.promptBlocks(seq);
    if (seq.pushTo !== undefined) this.holdUntilPushed(seq, seq.pushTo, promptBlocks);
    else if (this.stager !== undefined) {
      // What the decode worker will READ: the prompt's blocks (final: nothing writes a held request's KV).
      this.staged.set(seq.requestId, promptBlocks);
      try {
        this.stager.stage(seq.requestId, promptBlocks);
      } catch (err) {
        // Not fatal: unstaged blocks are still readable (the owner copies them during the READ).
        log.error('staging held KV blocks threw', { requestId: seq.requestId, error: err });
      }
    }
    return {
      remoteAgent: String(this.opts.workerId),
      remoteRegion: 'kv',
      remoteRequestId: seq.requestId,
      // The prompt's blocks; a request that generated more than one token holds its output blocks too.
      remoteBlockIds: promptBlocks.map(Number),
      numTokens: seq.numPromptTokens,
      firstTokenId: seq.outputTokenIds[0]!,
      expiresAtMs,
    };
  }

  /** The prompt's blocks, in prompt order. */
  private promptBlocks(seq: Sequence): readonly BlockId[] {
    const { kv } = this.opts;
    return kv.getBlockTable(seq.requestId).slice(0, Math.ceil(seq.numPromptTokens / kv.blockSize));
  }

  /**
   * Layer-wise: the blocks stay held while pushes read them; once every push settled, the hold is released
   * (nobody pulls). Without a pusher there is nothing to wait for: released at once. No abort can free the
   * blocks under a push issued mid-step: the forward pass, `update` and this hold run in one event-loop turn,
   * and an abort arrives only between turns (before the last chunk's step, no layer was pushed yet).
   */
  private holdUntilPushed(seq: Sequence, agent: string, blocks: readonly BlockId[]): void {
    const id = seq.requestId;
    if (this.pusher === undefined) {
      log.warn('a layer-wise prefill finished but this engine has no pusher: the decode worker times out', {
        requestId: id,
        decodeAgent: agent,
      });
      queueMicrotask(() => this.holds.release(id));
      return;
    }
    void this.pusher.finish(id, agent, blocks).then(() => this.holds.release(id));
  }

  private unstage(requestId: RequestId): void {
    const blocks = this.staged.get(requestId);
    if (blocks === undefined) return;
    this.staged.delete(requestId);
    try {
      this.stager?.unstage(requestId, blocks);
    } catch (err) {
      log.error('unstaging held KV blocks threw', { requestId, error: err });
    }
  }

  private emit(event: KvTransferEvent): void {
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch (err) {
        log.error('a KV transfer listener threw', {
          kind: event.kind,
          requestId: event.requestId,
          error: err,
        });
      }
    }
  }
}

/** Stands in when the connector was removed between admission and the pull: it fails, prefilled locally. */
const removedConnector: KvConnector = {
  loadBlocks: () => Promise.reject(new RemoteKvLoadError('the KV connector was removed from this engine')),
};
