/**
 * Conditional disaggregation: should this request's prompt be computed on a prefill worker, or locally on
 * the decode worker? One pure function, used by the frontend (live traffic) and by replay (simulated), so
 * both decide alike and a decision log line reads the same in both.
 *
 * Dynamo's rule (docs/design-notes.md#disaggregation): prefill remotely only when the part of the prompt
 * the decode worker does NOT already have cached is long, and the prefill queue is short:
 *
 *     remote  ⇔  prompt − cached_on_decode > max_local_prefill_length  (default 1000 tokens)
 *              ∧  prefill_queue < max_prefill_queue_size               (default 2 requests)
 *
 * Option (not Dynamo's; `rule: 'link-aware'`): also prefill locally when the KV hand-off would expose more
 * time than the local prefill it saves (the caller estimates both, from its link and timing model):
 *
 *     remote  ⇔  Dynamo's rule  ∧  exposed_transfer_ms < local_prefill_ms
 *
 * Systems analogy: a TCP offload decision: a short packet is cheaper to handle on the host CPU than to
 * hand to the NIC and wait; a long one pays for the hand-off, unless the offload engine is backed up.
 */

export interface DisaggPolicyOptions {
  /** Uncached prompt tokens at or below which the decode worker prefills locally (Dynamo: 1000). */
  maxLocalPrefillLength: number;
  /** Queued remote prefills at or above which the decode worker prefills locally (Dynamo: 2). */
  maxPrefillQueueSize: number;
  /** 'dynamo' (default): the two thresholds; 'link-aware': also compare hand-off and local prefill time. */
  rule?: DisaggRule;
}

export type DisaggRule = 'dynamo' | 'link-aware';

export const DISAGG_DEFAULTS: DisaggPolicyOptions = { maxLocalPrefillLength: 1000, maxPrefillQueueSize: 2 };

export interface DisaggInputs {
  promptTokens: number;
  /** Prompt tokens the chosen decode worker is expected to have cached (router overlap × block size). */
  cachedOnDecode: number;
  /** Prefill requests queued (sent, not yet answered) at the least-queued prefill worker. */
  prefillQueueSize: number;
  /** Prefill workers known for the model (0 = serve aggregated). */
  prefillWorkers: number;
  /** link-aware rule: time the KV hand-off adds to this request after a remote prefill (estimated). */
  exposedTransferMs?: number;
  /** link-aware rule: time the decode worker would spend prefilling the uncached prompt (estimated). */
  localPrefillMs?: number;
}

export type DisaggReason =
  | 'remote'
  | 'no_prefill_workers'
  | 'short_uncached_prompt'
  | 'prefill_queue_full'
  | 'transfer_slower_than_local';

export interface DisaggDecision {
  remote: boolean;
  reason: DisaggReason;
  uncachedTokens: number;
}

export function decideDisaggregation(
  inputs: DisaggInputs,
  options: DisaggPolicyOptions = DISAGG_DEFAULTS,
): DisaggDecision {
  const uncachedTokens = Math.max(0, inputs.promptTokens - inputs.cachedOnDecode);
  const decide = (remote: boolean, reason: DisaggReason): DisaggDecision => ({
    remote,
    reason,
    uncachedTokens,
  });
  if (inputs.prefillWorkers <= 0) return decide(false, 'no_prefill_workers');
  if (uncachedTokens <= options.maxLocalPrefillLength) return decide(false, 'short_uncached_prompt');
  if (inputs.prefillQueueSize >= options.maxPrefillQueueSize) return decide(false, 'prefill_queue_full');
  if (
    options.rule === 'link-aware' &&
    inputs.exposedTransferMs !== undefined &&
    inputs.localPrefillMs !== undefined &&
    inputs.exposedTransferMs >= inputs.localPrefillMs
  )
    return decide(false, 'transfer_slower_than_local');
  return decide(true, 'remote');
}

/** Throws RangeError naming the flag when an option is not a non-negative integer. */
export function checkDisaggOptions(options: DisaggPolicyOptions): void {
  const flags = [
    ['--max-local-prefill-length', options.maxLocalPrefillLength],
    ['--max-prefill-queue-size', options.maxPrefillQueueSize],
  ] as const;
  for (const [flag, value] of flags) {
    if (!Number.isSafeInteger(value) || value < 0) {
      throw new RangeError(`${flag} must be a non-negative integer, got ${value}`);
    }
  }
}
