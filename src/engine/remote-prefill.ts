/**
 * The decode side of disaggregated serving (vLLM's NixlConnector "pull"): which of the prompt's blocks to
 * read from the prefill worker, and the pulls in flight. Like a page-fault handler backed by a remote
 * swap device: the scheduler maps fresh pages (blocks) for the missing range, the connector fills them
 * over the network, and the faulting process (the sequence) sleeps in `loading` until the I/O completes.
 *
 *   prompt:   [ t0 ........................................ tP-2 | tP-1 ]
 *   blocks:   [ prefix hit (h blocks) | pulled: remote [h, ceil((P-1)/bs)) ]  ← KV for tokens [0, P-1)
 *                                                                    the decode step computes tP-1 itself
 *
 * The last prompt token is always recomputed here (vLLM does the same), so the first output token comes
 * from this engine's own logits, sampler and RNG: greedy and seeded outputs equal aggregated serving.
 *
 * Safety rule: a block a pull may still write into is never handed to anyone else. An aborted pull's
 * blocks are freed only once its promise settles (the connector promises it settles only when nothing
 * writes any more), whatever happened to the request meanwhile.
 */
import type { RequestId } from '../protocols/ids.ts';
import type { KvTransferParams } from '../protocols/kv-transfer.ts';
import { DhwError } from '../util/errors.ts';
import { getLogger } from '../util/logger.ts';
import type { KvConnector, KvLoadPlan, KvLoadResult, KvReceivePlan } from './kv-connector.ts';
import type { Sequence } from './sequence.ts';

const log = getLogger('engine');

/**
 * Why a decode-side request prefilled locally instead of pulling its KV: no connector, a hand-off that
 * does not fit this prompt, or a pull that failed (`cause`: the connector's error).
 */
export class RemoteKvLoadError extends DhwError {}

/** The remote blocks a decode-side admission pulls: logical blocks [first, end) of the prompt. */
export interface RemoteSpan {
  first: number;
  end: number;
  /** Tokens those blocks provide: (P − 1) − first·bs. */
  numTokens: number;
}

/**
 * Which blocks to pull for a prompt of `numPromptTokens` when the local prefix cache already holds
 * `numHitBlocks` full blocks. Returns an error message when the prefill worker's hand-off does not
 * describe this prompt at this block size (the caller then prefills locally).
 */
export function remoteSpan(
  numPromptTokens: number,
  numHitBlocks: number,
  blockSize: number,
  params: KvTransferParams,
): RemoteSpan | { error: string } {
  if (params.numTokens !== numPromptTokens) {
    return {
      error:
        `the prefill worker computed ${params.numTokens} prompt tokens but this request has ` +
        `${numPromptTokens}: the hand-off belongs to another prompt`,
    };
  }
  const expectedBlocks = Math.ceil(numPromptTokens / blockSize);
  if (params.remoteBlockIds.length !== expectedBlocks) {
    return {
      error:
        `the prefill worker holds ${params.remoteBlockIds.length} blocks for ${numPromptTokens} tokens, ` +
        `${expectedBlocks} expected at block size ${blockSize}: check that both workers use the same --block-size`,
    };
  }
  const numNeeded = numPromptTokens - 1;
  const end = Math.ceil(numNeeded / blockSize);
  const first = Math.min(numHitBlocks, end);
  return { first, end, numTokens: Math.max(0, numNeeded - first * blockSize) };
}

/** What a pull or a push receive is, for the engine's handlers: who sends, how many tokens. */
export interface RemoteLoadSummary {
  remoteAgent: string;
  numTokens: number;
}

/** What the engine does when a pull settles (the loader only tracks pulls and keeps the safety rule). */
export interface RemoteLoadHandlers {
  loaded(seq: Sequence, load: RemoteLoadSummary, result: KvLoadResult): void;
  failed(seq: Sequence, load: RemoteLoadSummary, error: Error): void;
  /** Free the request's blocks (an aborted pull has settled: nothing writes into them any more). */
  release(requestId: RequestId): void;
}

interface PendingLoad {
  seq: Sequence;
  controller: AbortController;
  settled: Promise<void>;
  cancelled: boolean;
}

/** The pulls in flight, by decode-side request id. */
export class RemoteKvLoader {
  private readonly pending = new Map<RequestId, PendingLoad>();
  /** Release-only pulls (nothing to copy, the prefill worker must still be told to free its blocks). */
  private readonly notifying = new Set<Promise<void>>();
  private readonly controllers = new Set<AbortController>();

  constructor(private readonly handlers: RemoteLoadHandlers) {}

  get numPending(): number {
    return this.pending.size;
  }

  /** A pull is in flight for this id (live, or aborted and not yet settled: its blocks are still out). */
  has(requestId: RequestId): boolean {
    return this.pending.has(requestId);
  }

  /** Start pulling `plan` into the blocks the scheduler allocated for `seq` (now `loading`). */
  start(connector: KvConnector, seq: Sequence, plan: KvLoadPlan): void {
    log.debug('pulling prompt KV from the prefill worker', {
      requestId: seq.requestId,
      remoteAgent: plan.params.remoteAgent,
      blocks: plan.localBlockIds.length,
      numTokens: plan.numTokens,
    });
    const summary = { remoteAgent: plan.params.remoteAgent, numTokens: plan.numTokens };
    this.track(seq, summary, (signal) => connector.loadBlocks(plan, signal));
  }

  /**
   * Layer-wise: send the destination and wait (`loading`) until the prefill worker has pushed every layer.
   * Without `receiveBlocks` the connector cannot take pushes: the request fails over to a local prefill.
   */
  startReceive(connector: KvConnector, seq: Sequence, plan: KvReceivePlan): void {
    log.debug('waiting for the prefill worker to push prompt KV', {
      requestId: seq.requestId,
      remoteAgent: plan.remoteAgent,
      blocks: plan.localBlockIds.length,
      numTokens: plan.numTokens,
    });
    const summary = { remoteAgent: plan.remoteAgent, numTokens: plan.numTokens };
    this.track(seq, summary, (signal) => receive(connector, plan, signal));
  }

  /**
   * Layer-wise, nothing to receive (the local prefix cache covers [0, P−1)): tell the prefill worker so it
   * sends nothing and frees its blocks. Fire and forget, like `releaseOnly`.
   */
  notifyOnly(connector: KvConnector, seq: Sequence, plan: KvReceivePlan): void {
    this.background(
      seq,
      plan.remoteAgent,
      (signal) => receive(connector, plan, signal),
      'could not tell the prefill worker that nothing is needed; its blocks expire on their own',
    );
  }

  private track(
    seq: Sequence,
    summary: RemoteLoadSummary,
    call: (signal: AbortSignal) => Promise<KvLoadResult>,
  ): void {
    const controller = new AbortController();
    const entry: PendingLoad = { seq, controller, settled: Promise.resolve(), cancelled: false };
    entry.settled = callLoad(call, controller.signal).then(
      (result) => this.settle(entry, () => this.handlers.loaded(seq, summary, result)),
      (err: unknown) => this.settle(entry, () => this.handlers.failed(seq, summary, asError(err))),
    );
    this.pending.set(seq.requestId, entry);
  }

  /**
   * Nothing to copy (the local prefix cache covers [0, P−1), or P = 1), but the prefill worker still holds
   * the blocks: an empty plan lets the connector send the release notification. Fire and forget: the
   * request proceeds at once; a failure only leaves the hold to expire.
   */
  releaseOnly(connector: KvConnector, seq: Sequence, params: KvTransferParams): void {
    const plan: KvLoadPlan = {
      requestId: seq.requestId,
      params,
      localBlockIds: [],
      remoteBlockIds: [],
      numTokens: 0,
    };
    this.background(
      seq,
      params.remoteAgent,
      (signal) => connector.loadBlocks(plan, signal),
      'could not tell the prefill worker to release its blocks; they expire on their own',
    );
  }

  private background(
    seq: Sequence,
    remoteAgent: string,
    call: (signal: AbortSignal) => Promise<KvLoadResult>,
    warning: string,
  ): void {
    const controller = new AbortController();
    this.controllers.add(controller);
    const done = callLoad(call, controller.signal).then(
      () => {},
      (err: unknown) => log.warn(warning, { requestId: seq.requestId, remoteAgent, error: err }),
    );
    this.notifying.add(done);
    void done.finally(() => {
      this.notifying.delete(done);
      this.controllers.delete(controller);
    });
  }

  /** The request was aborted: stop the pull; its blocks are freed once the pull has settled. */
  cancel(requestId: RequestId): boolean {
    const entry = this.pending.get(requestId);
    if (entry === undefined || entry.cancelled) return false;
    entry.cancelled = true;
    entry.controller.abort(new Error(`request ${requestId} was cancelled`));
    return true;
  }

  /** Abort every pull and wait until none can write any more (engine shutdown). */
  async close(): Promise<void> {
    for (const id of [...this.pending.keys()]) this.cancel(id);
    for (const controller of this.controllers) controller.abort(new Error('the engine is closing'));
    await Promise.all([...[...this.pending.values()].map((p) => p.settled), ...this.notifying]);
  }

  private settle(entry: PendingLoad, report: () => void): void {
    this.pending.delete(entry.seq.requestId);
    if (entry.cancelled) {
      this.handlers.release(entry.seq.requestId);
      return;
    }
    report();
  }
}

/** The connector's promise, with a synchronous throw turned into a rejection. */
function callLoad(
  call: (signal: AbortSignal) => Promise<KvLoadResult>,
  signal: AbortSignal,
): Promise<KvLoadResult> {
  try {
    return Promise.resolve(call(signal));
  } catch (err) {
    return Promise.reject(err);
  }
}

function receive(connector: KvConnector, plan: KvReceivePlan, signal: AbortSignal): Promise<KvLoadResult> {
  if (connector.receiveBlocks === undefined)
    return Promise.reject(new RemoteKvLoadError("this engine's KV connector cannot take layer-wise pushes"));
  return connector.receiveBlocks(plan, signal);
}

function asError(err: unknown): Error {
  return err instanceof Error ? err : new RemoteKvLoadError(String(err), { cause: err });
}
