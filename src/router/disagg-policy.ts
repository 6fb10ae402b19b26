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
 * Systems analogy: a TCP offload decision: a short packet is cheaper to handle on the host CPU than to
 * hand to the NIC and wait; a long one pays for the hand-off, unless the offload engine is backed up.
 */

export interface DisaggPolicyOptions {
  /** Uncached prompt tokens at or below which the decode worker prefills locally (Dynamo: 1000). */
  maxLocalPrefillLength: number;
  /** Queued remote prefills at or above which the decode worker prefills locally (Dynamo: 2). */
  maxPrefillQueueSize: number;
}

export const DISAGG_DEFAULTS: DisaggPolicyOptions = { maxLocalPrefillLength: 1000, maxPrefillQueueSize: 2 };

export interface DisaggInputs {
  promptTokens: number;
  /** Prompt tokens the chosen decode worker is expected to have cached (router overlap × block size). */
  cachedOnDecode: number;
  /** Prefill requests queued (sent, not yet answered) at the least-queued prefill worker. */
  prefillQueueSize: number;
  /** Prefill workers known for the model (0 = serve aggregated). */
  prefillWorkers: number;
}

export type DisaggReason = 'remote' | 'no_prefill_workers' | 'short_uncached_prompt' | 'prefill_queue_full';

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
