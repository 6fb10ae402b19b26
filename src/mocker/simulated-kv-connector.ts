/**
 * The mocker's KvConnector: a KV pull that moves no bytes and only charges the time the link would take,
 * `latency + bytes / bandwidth` (util/link-spec.ts), on the engine's clock. Like a network emulator (tc
 * netem) in front of a stub server: the decode side waits exactly as long as the real transfer would,
 * so replays of disaggregated deployments show transfer time in TTFT without any KV memory behind them.
 *
 *   bytes = blocks pulled × blockSize × kvBytesPerToken     (a partial last block travels whole)
 *
 * Layer-wise streaming (`overlap`, replay's `--kv-transfer-mode layerwise`; Mooncake, DistServe, LMCache):
 * layer l's KV leaves as soon as the prefill has computed layer l, so the link works during the prefill.
 * With L layers computed evenly over W ms and a transfer of T ms, layer l is ready at W·(l+1)/L and the
 * link is a pipe taking T/L per layer, so the last layer lands at
 *
 *   start + max(W/L + T, W + T/L)         (link-bound: only the first layer waits; compute-bound: the last)
 *
 * and the decode side waits only what is left of that when its pull begins: exposed = max(T − W, 0) + about
 * one layer, instead of T.
 *
 * After the "transfer" it calls `notify(params)`: the worker sends the prefill worker its release
 * notification through the transfer agent; a replay calls the prefill engine's `releaseHeld` directly.
 */
import type { Clock, KvConnector, KvLoadPlan, KvLoadResult } from '../engine/index.ts';
import type { KvTransferParams } from '../protocols/kv-transfer.ts';
import { DhwError } from '../util/errors.ts';
import { type LinkSpec, transferMs } from '../util/link-spec.ts';
import { MOCKER_DEFAULTS } from './mock-engine.ts';

export interface SimulatedKvConnectorOptions {
  /** The simulated link between prefill and decode workers (`--kv-link 25gbit,10us`). */
  link: LinkSpec;
  /** KV bytes one token occupies on the wire (all layers, K and V). */
  kvBytesPerToken: number;
  /** The decode engine's clock: a VirtualClock in replay, so transfers take simulated time. */
  clock: Clock;
  /** Called once the blocks have "arrived": release them on the prefill side. */
  notify?: (params: KvTransferParams) => Promise<void> | void;
  /** Tokens per KV block of the decode engine (default: the mocker's, 16). */
  blockSize?: number;
  /** Layer-wise streaming: the prefill compute a pull overlaps (absent, or undefined for a plan: whole). */
  overlap?: (plan: KvLoadPlan) => PrefillOverlap | undefined;
}

/** When the prefill that produced a pull's KV computed, on the engine's clock, and over how many layers. */
export interface PrefillOverlap {
  computeStartMs: number;
  computeMs: number;
  layers: number;
}

/** Layer-wise streaming: ms from the prefill's start until the last layer has crossed the link. */
export function layerwiseFinishMs(transferMs: number, computeMs: number, layers: number): number {
  return Math.max(computeMs / layers + transferMs, computeMs + transferMs / layers);
}

/** Layer-wise streaming: what is left of the transfer once the prefill is done. */
export function layerwiseExposedMs(transferMs: number, computeMs: number, layers: number): number {
  return layerwiseFinishMs(transferMs, computeMs, layers) - computeMs;
}

/** The pull was cancelled (the request was aborted) before the simulated transfer finished. */
export class KvLoadAbortedError extends DhwError {}

export class SimulatedKvConnector implements KvConnector {
  private readonly blockSize: number;

  constructor(private readonly opts: SimulatedKvConnectorOptions) {
    this.blockSize = opts.blockSize ?? MOCKER_DEFAULTS.blockSize;
  }

  /** Bytes a plan moves: whole blocks. */
  bytesFor(plan: Pick<KvLoadPlan, 'localBlockIds'>): number {
    return plan.localBlockIds.length * this.blockSize * this.opts.kvBytesPerToken;
  }

  async loadBlocks(plan: KvLoadPlan, signal: AbortSignal): Promise<KvLoadResult> {
    const bytes = this.bytesFor(plan);
    const whole = transferMs(this.opts.link, bytes);
    const overlap = this.opts.overlap?.(plan);
    const ms =
      overlap === undefined
        ? whole
        : Math.max(
            0,
            overlap.computeStartMs +
              layerwiseFinishMs(whole, overlap.computeMs, overlap.layers) -
              this.opts.clock.now(),
          );
    throwIfAborted(signal, plan);
    await abortable(this.opts.clock.sleep(ms), signal, plan);
    await this.opts.notify?.(plan.params);
    return { bytes, ms };
  }
}

function throwIfAborted(signal: AbortSignal, plan: KvLoadPlan): void {
  if (signal.aborted) throw abortedError(signal, plan);
}

function abortedError(signal: AbortSignal, plan: KvLoadPlan): KvLoadAbortedError {
  return new KvLoadAbortedError(`the KV pull for request ${plan.requestId} was cancelled`, {
    cause: signal.reason,
  });
}

/** `sleep`, or a rejection as soon as `signal` aborts (the simulated link writes nothing, so at once). */
function abortable(sleep: Promise<void>, signal: AbortSignal, plan: KvLoadPlan): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const onAbort = () => reject(abortedError(signal, plan));
    signal.addEventListener('abort', onAbort, { once: true });
    sleep.then(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, reject);
  });
}
