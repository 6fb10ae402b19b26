/**
 * The engine loop shared by the real engine and the mocker: requests in, one step at a time, outputs out.
 * Like an event-driven server's main loop: `generate()` enqueues a request and returns its stream; while
 * any request is unfinished the loop runs schedule → execute → update → emit, yielding to the event loop
 * (setImmediate) between steps so HTTP handlers and timers keep running.
 *
 * What executes a step is injected (`StepExecutor`): the model runner (forward pass + sampler) or the
 * mocker's timing model. Everything else — validation, scheduling, KV accounting, cancellation, load
 * metrics, step tracing — is here, so the two engines behave alike. EngineCore IS the engine callers hold:
 * LlmEngine and MockEngine are subclasses that only choose the executor (and LlmEngine closes its model).
 *
 * Disaggregated serving (protocols/kv-transfer.ts) plugs in here too, for both engines alike: a prefill
 * request (`doRemoteDecode`) finishes into the hold ledger and its last output carries `kvTransferParams`;
 * a decode request (`doRemotePrefill`) is admitted into `loading` while the KvConnector pulls its
 * prompt's KV, and the loop keeps stepping everyone else (kv-transfer-coordinator.ts).
 */
import type { KvCacheManager } from '../kv/index.ts';
import type { EngineModelInfo, EngineOutput, EngineRequest, InferenceEngine } from '../protocols/engine.ts';
import type { RequestId, WorkerId } from '../protocols/ids.ts';
import type { LoadMetrics } from '../protocols/kv-events.ts';
import type { KvTransferParams } from '../protocols/kv-transfer.ts';
import { InvalidRequestError } from '../util/errors.ts';
import { getLogger } from '../util/logger.ts';
import { type Clock, realClock } from './clock.ts';
import type { KvConnector, KvHoldStager, KvLayerPusher } from './kv-connector.ts';
import type { KvTransferListener } from './kv-transfer-events.ts';
import { KvTransferCoordinator } from './kv-transfer-coordinator.ts';
import type { GuidedDecoder } from './guided-decoding.ts';
import { advanceConstraints, constraintFor, prepareMasks } from './engine-constraints.ts';
import type { StepExecutor } from './model-runner.ts';
import { RequestStream } from './request-stream.ts';
import { validateEngineRequest } from './request-validation.ts';
import type { SampleResult } from './sampler.ts';
import { Scheduler, type SchedulerOptions, type SchedulerOutput } from './scheduler.ts';
import { Sequence } from './sequence.ts';
import { engineLoadMetrics, type StepListener, stepEvent } from './step-event.ts';

const log = getLogger('engine');

export type { StepEvent, StepListener } from './step-event.ts';

export interface EngineCoreOptions {
  info: EngineModelInfo;
  kv: KvCacheManager;
  executor: StepExecutor;
  scheduler: SchedulerOptions;
  /** Bytes of K/V one block holds (for tracing KV memory in use). */
  kvBytesPerBlock: number;
  workerId: WorkerId;
  clock?: Clock;
  /** Pulls a decode-side request's prompt KV from its prefill worker (none: such requests prefill here). */
  kvConnector?: KvConnector;
  /** How long a finished prefill request's blocks are held for its decode worker (default 30 000 ms). */
  kvHoldTimeoutMs?: number;
  /** Constrained decoding over the model's vocabulary (none: `guidedDecoding` requests are refused). */
  guidedDecoder?: GuidedDecoder;
}

export class EngineCore implements InferenceEngine {
  readonly info: EngineModelInfo;
  readonly scheduler: Scheduler;
  readonly kv: KvCacheManager;
  /** Longest sequence allowed: the context length, or the KV pool's capacity when that is smaller. */
  readonly maxModelLen: number;
  private readonly streams = new Map<RequestId, RequestStream<EngineOutput>>();
  private readonly listeners = new Set<StepListener>();
  private readonly clock: Clock;
  private readonly kvTransfer: KvTransferCoordinator;
  private loopDone: Promise<void> = Promise.resolve();
  private looping = false;
  /** kick() was called since the current step began. */
  private kicked = false;
  private stepCount = 0;
  private closed = false;

  constructor(private readonly opts: EngineCoreOptions) {
    this.info = opts.info;
    this.kv = opts.kv;
    this.clock = opts.clock ?? realClock;
    this.scheduler = new Scheduler(opts.kv, opts.scheduler);
    this.maxModelLen = Math.min(opts.info.contextLength, opts.kv.numBlocks * opts.kv.blockSize);
    this.kvTransfer = new KvTransferCoordinator({
      kv: opts.kv,
      scheduler: this.scheduler,
      workerId: opts.workerId,
      connector: opts.kvConnector,
      holdTimeoutMs: opts.kvHoldTimeoutMs,
      kick: () => this.kick(),
    });
  }

  /** Plug in (or replace) the connector after construction: the worker builds it from its transfer agent. */
  setKvConnector(connector: KvConnector | undefined): void {
    this.kvTransfer.setConnector(connector);
  }

  /** Plug in (or remove) the stager that mirrors held blocks for same-host decode workers (shm). */
  setKvStager(stager: KvHoldStager | undefined): void {
    this.kvTransfer.setStager(stager);
  }

  /** Plug in (or remove) the prefill side's layer-wise pusher (the worker builds it from its agent). */
  setKvPusher(pusher: KvLayerPusher | undefined): void {
    this.kvTransfer.setPusher(pusher);
  }

  /** Held requests whose blocks are staged for same-host readers now. */
  stagedRequests(): number {
    return this.kvTransfer.stagedRequests;
  }

  /** Subscribe to KV transfer events (loaded, load_failed, held, released, hold_expired). */
  onKvTransfer(listener: KvTransferListener): () => void {
    return this.kvTransfer.onEvent(listener);
  }

  /** The decode worker has pulled a held prefill's blocks: free them. False if unknown or expired. */
  releaseHeld(requestId: string): boolean {
    return this.kvTransfer.releaseHeld(requestId as RequestId);
  }

  /** Finished prefill requests whose blocks are held for a decode worker. */
  heldRequests(): number {
    return this.kvTransfer.heldRequests;
  }

  /** Blocks those held requests keep in use. */
  heldBlocks(): number {
    return this.kvTransfer.heldBlocks;
  }

  /**
   * Stream one request's tokens. Validation errors (InvalidRequestError: empty or too-long prompt, unknown
   * token id, duplicate request id) are thrown on the first iteration. Breaking out of the loop or aborting
   * `signal` frees the request's KV blocks at once; after an abort the stream just ends.
   */
  async *generate(request: EngineRequest, signal?: AbortSignal): AsyncGenerator<EngineOutput> {
    this.validate(request);
    if (signal?.aborted) return;
    const constraint = await constraintFor(this.opts.guidedDecoder, request, this.info.eosTokenIds);
    if (signal?.aborted || this.closed) {
      constraint?.dispose();
      return;
    }
    const kvTransfer = this.kvTransfer.admitRequest(request);
    const seq = new Sequence({
      requestId: request.requestId,
      promptTokenIds: request.promptTokenIds,
      sampling: request.sampling,
      stopping: request.stopping,
      logprobs: request.logprobs,
      promptLogprobs: request.promptLogprobs,
      eosTokenIds: this.info.eosTokenIds,
      maxModelLen: this.maxModelLen,
      hashBlockSize: this.kv.enablePrefixCaching ? this.kv.blockSize : undefined,
      kvTransfer,
    });
    seq.constraint = constraint;
    // Layer-wise prefill: its layers can leave during the forward pass only if the destination is known then.
    await this.kvTransfer.awaitDestination(seq);
    if (signal?.aborted || this.closed) {
      constraint?.dispose();
      return;
    }
    const stream = new RequestStream<EngineOutput>();
    this.streams.set(seq.requestId, stream);
    seq.queuedAtMs = this.clock.now();
    this.scheduler.add(seq);
    const onAbort = () => this.abort(seq.requestId);
    signal?.addEventListener('abort', onAbort, { once: true });
    this.kick();
    try {
      yield* stream;
    } finally {
      signal?.removeEventListener('abort', onAbort);
      if (!seq.isFinished) this.abort(seq.requestId); // the caller broke out of its loop
      constraint?.dispose();
      seq.constraint = undefined;
    }
  }

  /** Plug in constrained decoding (the worker does, with the model folder's tokenizer). */
  setGuidedDecoder(decoder: GuidedDecoder): void {
    this.opts.guidedDecoder = decoder;
  }

  /** Cancel a request: its blocks are freed now and its stream ends without a further output. */
  abort(requestId: RequestId): void {
    this.scheduler.abort(requestId);
    this.kvTransfer.cancel(requestId); // a pulling request's blocks are freed once its pull settles
    this.streams.get(requestId)?.end();
    this.streams.delete(requestId);
  }

  /** Subscribe to per-step traces; returns the unsubscribe function. */
  onStep(listener: StepListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  loadMetrics(): LoadMetrics {
    return engineLoadMetrics(this.scheduler, this.kv, this.opts.workerId);
  }

  /** Blocks referenced by live sequences and held prefills (cached-but-free blocks do not count). */
  kvBlocksInUse(): number {
    return this.kv.numActiveBlocks();
  }

  /**
   * Stop the loop, end every stream (as if aborted), wait for the current step and for every KV pull to
   * settle, and release every hold: afterwards no block is in use.
   */
  async close(): Promise<void> {
    this.closed = true;
    for (const id of [...this.streams.keys()]) this.abort(id);
    await this.loopDone;
    await this.kvTransfer.close();
  }

  private validate(request: EngineRequest): void {
    if (this.closed) throw new InvalidRequestError('the engine is closed', null, 'engine_closed');
    validateEngineRequest(request, {
      maxModelLen: this.maxModelLen,
      contextLength: this.info.contextLength,
      kvTokens: this.kv.numBlocks * this.kv.blockSize,
      vocabSize: this.info.vocabSize,
      scoresPrompts: this.opts.executor.scoresPrompts === true,
    });
    if (this.streams.has(request.requestId) || this.kvTransfer.isSettling(request.requestId)) {
      throw new InvalidRequestError(`request id ${request.requestId} is already in flight`, 'request_id');
    }
  }

  /**
   * True while the step loop runs; false when idle or parked (nothing schedulable until a kick: a new
   * request, freed blocks, a settled KV pull). A virtual-time driver (replay) counts a parked engine as idle.
   */
  get stepping(): boolean {
    return this.looping;
  }

  /** Start the loop if it is idle. */
  private kick(): void {
    this.kicked = true;
    if (this.looping) return;
    this.looping = true;
    this.loopDone = this.runLoop();
  }

  private async runLoop(): Promise<void> {
    try {
      // Let requests that arrive in the same tick (a burst) join the first step instead of waiting for
      // the second one, as a NIC coalesces interrupts.
      await new Promise<void>((resolve) => setImmediate(resolve));
      while (!this.closed && this.scheduler.hasUnfinished()) {
        try {
          this.kicked = false;
          // Nothing schedulable: idle until a kick (new request, freed blocks, settled KV pull). A kick
          // that came while this step was in flight (a pull failing at once) found the loop busy: go on.
          if (!(await this.step()) && !this.kicked) break;
        } catch (err) {
          this.failAll(err);
        }
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
    } finally {
      // Cleared in the same tick as the last hasUnfinished() check, so a request added right after
      // always finds the loop idle and restarts it (never a loop that is "exiting" and won't see it).
      this.looping = false;
    }
  }

  /**
   * One step. Returns false when nothing could be scheduled: every waiting request waits for blocks
   * (held by pulls in flight or by holds) or for a pull; otherwise a bug, logged.
   */
  private async step(): Promise<boolean> {
    const started = this.clock.now();
    const output = this.scheduler.schedule();
    this.kvTransfer.startAdmissions(output.remote);
    if (output.scheduled.length === 0) {
      // A settled pull or a released hold restarts the loop (kick) when it frees memory.
      const waitsOnKvTransfer = this.kvTransfer.numPendingLoads > 0 || this.kvTransfer.heldBlocks > 0;
      if (waitsOnKvTransfer)
        log.debug('waiting for KV pulls or held blocks to free memory', this.scheduleState());
      else log.warn('nothing schedulable although requests are pending', this.scheduleState());
      return false;
    }
    for (const { seq } of output.scheduled)
      if (Number.isNaN(seq.firstScheduledAtMs)) seq.firstScheduledAtMs = started;
    await prepareMasks(output);
    const results = await this.opts.executor.execute(output, this.kvTransfer.layerListener(output.scheduled));
    advanceConstraints(output, results);
    const live = output.scheduled.map((s) => s.seq.status === 'running'); // not aborted during execute
    const finished = this.scheduler.update(
      output,
      results.map((r) => r?.tokenId),
    );
    const params = this.kvTransfer.holdFinished(finished);
    this.emit(output, results, live, params);
    this.publishStep(output, this.clock.now() - started, finished.length);
    return true;
  }

  private emit(
    output: SchedulerOutput,
    results: Array<SampleResult | undefined>,
    live: boolean[],
    kvTransferParams: ReadonlyMap<RequestId, KvTransferParams>,
  ): void {
    output.scheduled.forEach(({ seq, sample }, i) => {
      const result = results[i];
      if (!sample || !live[i] || result === undefined) return;
      const stream = this.streams.get(seq.requestId);
      const handoff = seq.isFinished ? kvTransferParams.get(seq.requestId) : undefined;
      stream?.push({
        requestId: seq.requestId,
        tokenId: result.tokenId,
        logprob: result.logprob,
        topLogprobs: result.topLogprobs,
        ...(seq.promptLogprobs !== undefined && !seq.promptScoresSent ? this.takePromptScores(seq) : {}),
        ...(seq.queueTimeSent ? {} : this.takeQueueTime(seq)),
        finishReason: seq.finishReason,
        numCachedTokens: Math.max(0, seq.numCachedTokens),
        ...(handoff === undefined ? {} : { kvTransferParams: handoff }),
      });
      if (seq.isFinished) {
        stream?.end();
        this.streams.delete(seq.requestId);
      }
    });
  }

  /** Its time in the waiting queue, once, on the request's first output. */
  private takeQueueTime(seq: Sequence): Pick<EngineOutput, 'queueMs'> {
    seq.queueTimeSent = true;
    return { queueMs: Math.max(0, seq.firstScheduledAtMs - seq.queuedAtMs) };
  }

  /** The prompt's scores, once, on the request's first output. */
  private takePromptScores(seq: Sequence): Pick<EngineOutput, 'promptLogprobs'> {
    seq.promptScoresSent = true;
    return { promptLogprobs: seq.promptScores };
  }

  private publishStep(output: SchedulerOutput, stepMs: number, numFinished: number): void {
    this.stepCount++;
    if (this.listeners.size === 0) return;
    const event = stepEvent(
      this.stepCount,
      stepMs,
      output,
      numFinished,
      this.scheduler,
      this.kv,
      this.opts.kvBytesPerBlock,
    );
    for (const listener of this.listeners) listener(event);
  }

  /** A step threw (a bug or a broken model): fail every in-flight request rather than hang them. */
  private failAll(err: unknown): void {
    log.error('engine step failed; failing all in-flight requests', { error: err });
    for (const [id, stream] of this.streams) {
      this.scheduler.abort(id);
      this.kvTransfer.cancel(id);
      stream.fail(err);
    }
    this.streams.clear();
  }

  private scheduleState(): Record<string, number> {
    return {
      waiting: this.scheduler.waiting.length,
      running: this.scheduler.running.length,
      freeBlocks: this.kv.numFreeBlocks(),
      heldBlocks: this.kvTransfer.heldBlocks,
    };
  }
}
