/**
 * Disaggregated serving in virtual time: P prefill-only mockers and D decode mockers, two routers, the
 * frontend's decision rule, and a simulated link between them. Per request, what the frontend does live
 * (docs/design-notes.md#disaggregation, /work contract "the flow"):
 *
 *   decode router.route ──► decideDisaggregation(uncached prompt, prefill queue)
 *        local  ──► generate on the decode worker (the aggregated path)
 *        remote ──► prefill router.route ──► prefill mocker: prompt, maxTokens 1, {doRemoteDecode}
 *                   ◄── kvTransferParams (the prefill worker holds the blocks)
 *               ──► decode mocker: {doRemotePrefill: params}: its SimulatedKvConnector sleeps
 *                   latency + bytes ÷ bandwidth on the virtual clock (kvTransferMode 'whole'), or only
 *                   what is left of a layer-wise stream that overlapped the prefill ('layerwise'),
 *                   then "notifies" the prefill mocker (releaseHeld) ──► decode computes the last
 *                   prompt token and streams
 *
 * Layer-wise overlap window: the prefill's compute time in the timing model (prefillMs of the tokens the
 * prefill worker computed), ending when its first token came out, bounded by the time since dispatch
 * (no layer is computed while the request queues). The decode side is assumed to have allocated its
 * blocks when the prefill started (what a layer-wise push needs); that earlier hold is not modelled.
 *
 * The 'link-aware' rule (an option; Dynamo's is the default) estimates, before routing, the hand-off's
 * exposed time (whole: T; layerwise: max(T − W, 0) + about a layer) against the local prefill W it removes.
 *
 * Systems analogy: a storage array with separate ingest and serving nodes behind one director: big writes
 * go to an ingest node and are shipped over the interconnect; small ones are handled where they land.
 */
import type { KvConnector, KvLoadResult } from '../engine/index.ts';
import { layerwiseExposedMs, type MockEngine, type PrefillOverlap, prefillMs } from '../mocker/index.ts';
import { SimulatedKvConnector } from '../mocker/simulated-kv-connector.ts';
import type { EngineRequest } from '../protocols/engine.ts';
import type { RequestId, WorkerId } from '../protocols/ids.ts';
import type { KvTransferParams } from '../protocols/kv-transfer.ts';
import { transferMs } from '../util/link-spec.ts';
import { decideDisaggregation, type Router } from '../router/index.ts';
import type { DisaggReplayConfig } from './replay-options.ts';
import {
  type ArrivedRequest,
  engineRequest,
  markRejected,
  newRecord,
  type ReplayContext,
  type RequestRecord,
  streamInto,
} from './request-flow.ts';
import { type SimWorker, startSimWorkers } from './sim-workers.ts';

export class DisaggCluster {
  readonly prefill: Map<WorkerId, SimWorker>;
  readonly decode: Map<WorkerId, SimWorker>;
  /** Which prefill mocker holds a request's blocks, until decode's pull releases them. */
  private readonly heldAt = new Map<RequestId, MockEngine>();
  /** Layer-wise mode: each remote prefill's compute window, by request, for its pull. */
  private readonly overlaps = new Map<RequestId, PrefillOverlap>();
  /** Finished pulls, by request, until the request's record takes them. */
  private readonly transfers = new Map<RequestId, KvLoadResult>();
  private readonly config: DisaggReplayConfig;

  constructor(
    private readonly ctx: ReplayContext,
    private readonly decodeRouter: Router,
    private readonly prefillRouter: Router,
  ) {
    this.config = ctx.opts.disagg!;
    const settings = { ...ctx.opts, kvBytesPerToken: this.config.kvBytesPerToken };
    this.prefill = startSimWorkers(prefillRouter, ctx.loop, {
      role: 'prefill',
      count: this.config.prefillWorkers,
      prefix: 'p',
      settings,
    });
    this.decode = startSimWorkers(decodeRouter, ctx.loop, {
      role: 'decode',
      count: this.config.decodeWorkers,
      prefix: 'd',
      settings,
      kvConnector: () => this.connector(),
    });
  }

  /** Every worker, prefill first. */
  workers(): SimWorker[] {
    return [...this.prefill.values(), ...this.decode.values()];
  }

  async serve(req: ArrivedRequest): Promise<RequestRecord> {
    const { requestId, trace } = req;
    const routed = this.decodeRouter.route({ requestId, tokenIds: req.tokens, blockHashes: req.blockHashes });
    const decode = this.decode.get(routed.workerId)!;
    decode.record.requests++;
    const record = newRecord(this.ctx, req, routed.workerId);
    const cachedOnDecode = Math.min(trace.inputLength, routed.overlapBlocks * this.ctx.opts.blockSize);
    record.predictedCachedTokens = cachedOnDecode;
    const queue = this.prefillQueue();
    const decision = decideDisaggregation(
      {
        promptTokens: trace.inputLength,
        cachedOnDecode,
        prefillQueueSize: queue.size,
        prefillWorkers: queue.workers,
        ...this.handOffEstimate(trace.inputLength - cachedOnDecode),
      },
      this.config,
    );
    record.remotePrefill = decision.remote;
    record.disaggReason = decision.reason;
    try {
      let request = engineRequest(req);
      if (decision.remote) {
        const params = await this.prefillRemotely(req, record);
        // No params (the prefill engine did not hand off): decode prefills locally, the request survives.
        if (params !== undefined) request = { ...request, kvTransfer: { doRemotePrefill: params } };
      }
      await streamInto(this.ctx, decode.engine, request, record, (out) => {
        if (!decision.remote) {
          record.cachedTokens = out.numCachedTokens;
          record.queueMs = out.queueMs ?? Number.NaN;
        }
        this.decodeRouter.markPrefillDone(requestId);
      });
      this.takeTransfer(record, requestId);
    } catch (err) {
      markRejected(this.ctx, record, err);
    } finally {
      this.decodeRouter.finishRequest(requestId, 'done', record.outputTokens);
      this.overlaps.delete(requestId); // a prefill that handed nothing off
    }
    return record;
  }

  /** The link-aware rule's inputs: the hand-off's exposed time and the local prefill, for `uncached` tokens. */
  private handOffEstimate(uncached: number): { exposedTransferMs: number; localPrefillMs: number } {
    const { blockSize, speedupRatio } = this.ctx.opts;
    const bytes = Math.ceil(uncached / blockSize) * blockSize * this.config.kvBytesPerToken;
    const whole = transferMs(this.config.link, bytes);
    const local = uncached > 0 ? prefillMs(uncached) / speedupRatio : 0;
    const exposed =
      this.config.kvTransferMode === 'layerwise'
        ? layerwiseExposedMs(whole, local, this.config.kvLayers)
        : whole;
    return { exposedTransferMs: exposed, localPrefillMs: local };
  }

  /**
   * The prefill queue exactly as the frontend computes it (frontend/remote-prefill.ts): remote prefills
   * routed and not yet answered at the least-queued prefill worker that can take work (not quarantined,
   * not busy), and how many such workers there are.
   */
  prefillQueue(): { size: number; workers: number } {
    let size = Number.POSITIVE_INFINITY;
    let workers = 0;
    for (const { workerId } of this.prefillRouter.workers) {
      if (this.prefillRouter.isQuarantined(workerId) || this.prefillRouter.isBusy(workerId)) continue;
      workers++;
      size = Math.min(size, this.prefillRouter.active.counts(workerId).requests);
    }
    return { size: workers === 0 ? 0 : size, workers };
  }

  /** Run the prompt on a prefill worker (maxTokens 1, hold the blocks); its hand-off record, if any. */
  private async prefillRemotely(
    req: ArrivedRequest,
    record: RequestRecord,
  ): Promise<KvTransferParams | undefined> {
    const { requestId, trace } = req;
    const routed = this.prefillRouter.route({
      requestId,
      tokenIds: req.tokens,
      blockHashes: req.blockHashes,
    });
    const worker = this.prefill.get(routed.workerId)!;
    worker.record.requests++;
    record.prefillWorkerId = routed.workerId;
    record.predictedCachedTokens = Math.min(
      trace.inputLength,
      routed.overlapBlocks * this.ctx.opts.blockSize,
    );
    const base = engineRequest(req);
    const request: EngineRequest = {
      ...base,
      stopping: { ...base.stopping, maxTokens: 1 },
      kvTransfer: { doRemoteDecode: true },
    };
    let params: KvTransferParams | undefined;
    const dispatchedMs = this.ctx.loop.clock.now();
    try {
      for await (const out of worker.engine.generate(request)) {
        if (params === undefined) {
          record.cachedTokens = out.numCachedTokens; // what the prefill worker's cache served
          record.queueMs = out.queueMs ?? Number.NaN; // and how long its queue held the prompt
          this.prefillRouter.markPrefillDone(requestId);
          this.noteOverlap(requestId, dispatchedMs, trace.inputLength - out.numCachedTokens);
        }
        params = out.kvTransferParams ?? params;
      }
    } finally {
      this.prefillRouter.finishRequest(requestId);
    }
    if (params !== undefined) this.heldAt.set(params.remoteRequestId as RequestId, worker.engine);
    return params;
  }

  /** Layer-wise mode: the window the prefill computed `computed` tokens in, which just ended now. */
  private noteOverlap(requestId: RequestId, dispatchedMs: number, computed: number): void {
    if (this.config.kvTransferMode !== 'layerwise') return;
    const now = this.ctx.loop.clock.now();
    const computeMs = Math.min(
      now - dispatchedMs,
      prefillMs(Math.max(0, computed)) / this.ctx.opts.speedupRatio,
    );
    this.overlaps.set(requestId, {
      computeStartMs: now - computeMs,
      computeMs,
      layers: this.config.kvLayers,
    });
  }

  /**
   * A decode worker's connector: the mocker's link model on the shared virtual clock, whose "release"
   * notification frees the blocks on the prefill mocker directly (live, it travels through the agents).
   */
  private connector(): KvConnector {
    const link = new SimulatedKvConnector({
      link: this.config.link,
      kvBytesPerToken: this.config.kvBytesPerToken,
      blockSize: this.ctx.opts.blockSize,
      // The shared clock, not the decode worker's tracked one: a pull is not a step, and the engine keeps
      // stepping its other requests meanwhile (the loop counts a worker idle only when it is not in a step).
      clock: this.ctx.loop.clock,
      notify: (params) => this.release(params),
      overlap: (plan) => {
        const overlap = this.overlaps.get(plan.requestId);
        this.overlaps.delete(plan.requestId);
        return overlap;
      },
    });
    return {
      loadBlocks: async (plan, signal) => {
        const result = await link.loadBlocks(plan, signal);
        this.transfers.set(plan.requestId, result);
        return result;
      },
    };
  }

  private release(params: KvTransferParams): void {
    const id = params.remoteRequestId as RequestId;
    const engine = this.heldAt.get(id);
    this.heldAt.delete(id);
    engine?.releaseHeld(id);
  }

  private takeTransfer(record: RequestRecord, requestId: RequestId): void {
    const transfer = this.transfers.get(requestId);
    if (transfer === undefined) return;
    this.transfers.delete(requestId);
    record.transferMs = transfer.ms;
    record.transferBytes = transfer.bytes;
  }
}
