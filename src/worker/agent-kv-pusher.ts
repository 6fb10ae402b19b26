/**
 * The prefill worker's half of the layer-wise hand-off (KvLayerPusher): each layer of a prompt's KV leaves
 * for the decode worker as soon as the forward pass has written it, as one WRITE of layers [l, l+1) of the
 * prompt's blocks into the blocks the decode worker allocated, with the notification "kv-layer:{id}:{l}".
 * Like a NIC transmit ring fed one packet at a time while the CPU builds the next, instead of one DMA of the
 * whole buffer at the end.
 *
 *   decode worker ── notif "kv-dest:{id}:{firstBlock, blockIds, ttlMs}" ──▶ onDestination (any time, even
 *                                                                           before the prefill starts)
 *   forward pass, after layer l ─▶ layerDone(id, l) ─▶ destination known? WRITE now : queue l
 *   step done, request finished ─▶ finish(id) ─▶ WRITE every layer not sent yet; resolves when all settled
 *                                                 (the engine then frees the held blocks)
 *   any WRITE fails, or the destination never comes ─▶ notif "kv-push-failed:{id}" (decode prefills locally)
 *
 * The deadline rule that keeps the decode worker's blocks safe: no WRITE starts after the destination's
 * `ttlMs` (counted from its arrival here), and each WRITE's timeout ends there too. The decode worker waits
 * a grace period beyond the same ttl before it gives the blocks to anyone else.
 */
import type { KvLayerPusher } from '../engine/index.ts';
import type { BlockId, RequestId } from '../protocols/ids.ts';
import { type KvDestination, layerNotification, pushFailedNotification } from '../protocols/kv-transfer.ts';
import { type TransferAgent, TransferError, TransferTimeoutError } from '../transfer/index.ts';
import type { Logger } from '../util/logger.ts';
import { KV_REGION } from './agent-kv-connector.ts';

/** What the pusher reports per layer WRITE (the worker's metrics). */
export type LayerPushOutcome = 'ok' | 'error';

export interface AgentKvPusherOptions {
  agent: TransferAgent;
  /**
   * How long a layer-wise prefill waits for its destination before it is scheduled anyway (its layers then
   * leave after the forward pass). Default DESTINATION_WAIT_MS.
   */
  destinationWaitMs?: number;
  /** The model's layers (the KV region's layout). */
  numLayers: number;
  /** A finished prefill whose destination has not arrived by then gives up (tells the decode worker). */
  destinationTimeoutMs: number;
  log: Logger;
  /** Each layer WRITE's outcome and bytes (metrics). */
  onPush?: (outcome: LayerPushOutcome, bytes: number) => void;
  /** Make sure the decode worker's agent is in our peer table (discovery lookup). */
  ensurePeer: (agent: string) => Promise<void>;
}

interface Destination {
  from: string;
  dest: KvDestination;
  /** Local clock: no WRITE starts after this. */
  deadline: number;
}

interface Outgoing {
  agent: string;
  blockIds: readonly BlockId[];
  destination: Destination | undefined;
  /** Layers computed and not yet sent (waiting for the destination). */
  ready: number[];
  sent: Set<number>;
  inFlight: number;
  failed: boolean;
  /** The decode worker was told the push failed. */
  told?: boolean;
  /** finish() was called: resolve once nothing is in flight and every layer is sent (or it failed). */
  done?: () => void;
  timer?: ReturnType<typeof setTimeout>;
}

/**
 * The bound on a prefill's wait for its destination: the decode worker sends it as soon as it has admitted
 * the request (milliseconds on an idle worker, one engine step on a busy one); a much later one means the
 * decode hop is stuck, and the prefill should not be.
 */
export const DESTINATION_WAIT_MS = 1_000;

export class AgentKvPusher implements KvLayerPusher {
  private readonly outgoing = new Map<string, Outgoing>();
  /** Destinations that arrived before their prefill began, dropped at their deadline. */
  private readonly early = new Map<string, Destination>();
  /** Prefills waiting for their destination before they are scheduled (awaitDestination). */
  private readonly waiting = new Map<string, () => void>();

  constructor(private readonly options: AgentKvPusherOptions) {}

  /** Requests whose pushes are not all settled yet. */
  get pending(): number {
    return this.outgoing.size;
  }

  /** A decode worker's destination notification. */
  onDestination(from: string, requestId: string, dest: KvDestination): void {
    const destination = { from, dest, deadline: Date.now() + dest.ttlMs };
    if (!this.options.agent.knowsAgent(from)) {
      // The agent directory's watch may lag a decode worker that just registered: look it up first.
      this.options.ensurePeer(from).then(
        () => this.place(requestId, destination),
        (err: unknown) =>
          this.options.log.warn('a KV destination came from an unknown agent; ignored', {
            requestId,
            from,
            error: err,
          }),
      );
      return;
    }
    this.place(requestId, destination);
  }

  awaitDestination(requestId: RequestId, agent: string): Promise<void> {
    if (this.early.get(requestId)?.from === agent) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const timer = setTimeout(done, this.options.destinationWaitMs ?? DESTINATION_WAIT_MS);
      const waiting = this.waiting;
      function done(): void {
        clearTimeout(timer);
        waiting.delete(requestId);
        resolve();
      }
      this.waiting.get(requestId)?.(); // a duplicate id: let the older wait go
      this.waiting.set(requestId, done);
    });
  }

  private place(requestId: string, destination: Destination): void {
    const { from, dest } = destination;
    const out = this.outgoing.get(requestId);
    if (out === undefined) {
      this.early.set(requestId, destination);
      this.waiting.get(requestId)?.();
      setTimeout(() => {
        if (this.early.get(requestId) === destination) this.early.delete(requestId);
      }, dest.ttlMs).unref();
      return;
    }
    if (out.agent !== from) return; // not the worker this request pushes to: ignore
    this.adopt(requestId, out, destination);
  }

  layerDone(requestId: RequestId, agent: string, layer: number, blockIds: readonly BlockId[]): void {
    const out = this.entry(requestId, agent, blockIds);
    if (out.failed || out.sent.has(layer) || out.ready.includes(layer)) return;
    if (out.destination === undefined) out.ready.push(layer);
    else this.push(requestId, out, layer);
  }

  finish(requestId: RequestId, agent: string, blockIds: readonly BlockId[]): Promise<void> {
    const out = this.entry(requestId, agent, blockIds);
    return new Promise<void>((resolve) => {
      out.done = resolve;
      if (out.timer !== undefined) clearTimeout(out.timer);
      out.timer = undefined;
      for (let l = 0; l < this.options.numLayers; l++) this.layerDone(requestId, agent, l, blockIds);
      if (out.destination === undefined && !out.failed) {
        out.timer = setTimeout(
          () =>
            this.fail(
              requestId,
              out,
              new TransferTimeoutError(
                `decode worker "${agent}" sent no destination for request ${requestId} within ` +
                  `${this.options.destinationTimeoutMs} ms of the prefill's end`,
              ),
            ),
          this.options.destinationTimeoutMs,
        );
      }
      this.settleIfDone(requestId, out);
    });
  }

  forget(requestId: RequestId): void {
    const out = this.outgoing.get(requestId);
    if (out === undefined || out.done !== undefined) return; // a finished request settles on its own
    this.fail(requestId, out, new TransferError(`request ${requestId} was aborted on the prefill worker`));
  }

  private entry(requestId: string, agent: string, blockIds: readonly BlockId[]): Outgoing {
    let out = this.outgoing.get(requestId);
    if (out !== undefined) return out;
    out = { agent, blockIds, destination: undefined, ready: [], sent: new Set(), inFlight: 0, failed: false };
    this.outgoing.set(requestId, out);
    const early = this.early.get(requestId);
    if (early !== undefined && early.from === agent) {
      this.early.delete(requestId);
      this.adopt(requestId, out, early);
    }
    return out;
  }

  private adopt(requestId: string, out: Outgoing, destination: Destination): void {
    if (out.destination !== undefined || out.failed) return;
    const { dest } = destination;
    const numPromptBlocks = out.blockIds.length;
    if (dest.firstBlock + dest.blockIds.length > numPromptBlocks) {
      this.fail(
        requestId,
        out,
        new TransferError(
          `decode worker "${destination.from}" asked for prompt blocks [${dest.firstBlock}, ` +
            `${dest.firstBlock + dest.blockIds.length}) but the prompt has ${numPromptBlocks} here: check that ` +
            'both workers use the same --block-size',
        ),
      );
      return;
    }
    out.destination = destination;
    if (out.timer !== undefined) clearTimeout(out.timer);
    out.timer = undefined;
    const ready = out.ready.splice(0);
    for (const layer of ready) this.push(requestId, out, layer);
    this.settleIfDone(requestId, out);
  }

  /** One layer's WRITE; its kernel writes start now when a data connection to the peer is idle. */
  private push(requestId: string, out: Outgoing, layer: number): void {
    const { dest, deadline } = out.destination!;
    out.sent.add(layer);
    if (dest.blockIds.length === 0) return; // the decode worker's prefix cache had everything
    const left = deadline - Date.now();
    if (left <= 0) {
      const late = new TransferTimeoutError(
        `the destination of request ${requestId} expired before layer ${layer} was computed`,
      );
      this.fail(requestId, out, late);
      return;
    }
    out.inFlight++;
    const write = this.options.agent.write(out.agent, {
      localRegion: KV_REGION,
      remoteRegion: dest.region,
      layers: { start: layer, end: layer + 1 },
      localBlockIds: out.blockIds.slice(dest.firstBlock, dest.firstBlock + dest.blockIds.length),
      remoteBlockIds: dest.blockIds,
      notif: layerNotification(requestId, layer),
      timeoutMs: left,
    });
    write.then(
      (result) => {
        this.options.onPush?.('ok', result.bytes);
        out.inFlight--;
        this.settleIfDone(requestId, out);
      },
      (err: unknown) => {
        this.options.onPush?.('error', 0);
        out.inFlight--;
        this.fail(requestId, out, err);
      },
    );
  }

  /** Stop pushing this request; the decode worker is told once no WRITE of it is in flight any more. */
  private fail(requestId: string, out: Outgoing, err: unknown): void {
    if (!out.failed) {
      out.failed = true;
      out.ready.length = 0;
      if (out.timer !== undefined) clearTimeout(out.timer);
      out.timer = undefined;
      this.options.log.warn('layer-wise KV push failed; the decode worker prefills locally', {
        requestId,
        decodeAgent: out.agent,
        layersSent: out.sent.size,
        error: err,
      });
    }
    this.settleIfDone(requestId, out);
  }

  private settleIfDone(requestId: string, out: Outgoing): void {
    if (out.inFlight > 0) return;
    if (out.failed) {
      // Only now: the decode worker reuses its blocks as soon as it reads this, so no WRITE may follow.
      if (!out.told) this.tellFailed(requestId, out.agent);
      out.told = true;
      if (out.done === undefined) {
        // Not finished (aborted, or failed mid-step): keep the entry so the step's later layers and
        // finish() see it failed; drop it if finish() never comes.
        out.timer ??= setTimeout(() => {
          if (this.outgoing.get(requestId) === out) this.outgoing.delete(requestId);
        }, this.options.destinationTimeoutMs);
        out.timer.unref?.();
        return;
      }
    } else {
      const allSent = out.destination !== undefined && out.sent.size === this.options.numLayers;
      if (out.done === undefined || !allSent) return;
    }
    if (this.outgoing.get(requestId) === out) this.outgoing.delete(requestId);
    out.done?.();
  }

  private tellFailed(requestId: string, agent: string): void {
    void this.options
      .ensurePeer(agent)
      .then(() => this.options.agent.sendNotif(agent, pushFailedNotification(requestId)))
      .catch((err: unknown) =>
        this.options.log.warn('could not tell the decode worker that the push failed; it times out', {
          requestId,
          decodeAgent: agent,
          error: err,
        }),
      );
  }
}
