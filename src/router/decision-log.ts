/**
 * One log line per routing decision, the router's access log: which worker, why, and every candidate's
 * numbers, with the cost written out as arithmetic so a reader can redo it by hand:
 *
 *   route requestId=r7 policy=kv chosen=w1 reason="min cost" isl=256 blocks=16 overlap=12
 *     workers=["w1: overlap=12 prefill=0t active=0b cost 1.0*4 + 16 = 20","w2: overlap=0 ..."]
 *
 * Overlap blocks the router predicted (routed there, KV events not in yet) are split out of the indexed
 * ones: `overlap=12 (indexed 4 + predicted 8)` per worker, `overlapIndexed` / `overlapPredicted` fields.
 */
import type { LogFields } from '../util/logger.ts';
import type { RouteDecision, RouteRequest, WorkerScore, WorkerView } from './types.ts';

export function decisionLogFields(
  policyName: string,
  request: RouteRequest,
  workers: readonly WorkerView[],
  decision: RouteDecision,
  chosenOverlap: number,
): LogFields {
  const scores = new Map<string, WorkerScore>();
  const chosen = workers.find((w) => w.workerId === decision.workerId);
  const predicted = Math.min(chosen?.predictedBlocks ?? 0, chosenOverlap);
  for (const score of decision.scores ?? []) scores.set(score.workerId, score);
  return {
    requestId: request.requestId,
    policy: policyName,
    chosen: decision.workerId,
    reason: decision.reason,
    isl: request.isl,
    blocks: request.blockHashes.length,
    overlap: chosenOverlap,
    overlapIndexed: chosenOverlap - predicted,
    overlapPredicted: predicted,
    workers: workers.map((w) => describeWorker(w, scores.get(w.workerId))),
  };
}

/** "w1: overlap=12 prefill=0t active=0b cost 1.0*4 + 16 = 20" */
export function describeWorker(view: WorkerView, score: WorkerScore | undefined): string {
  const overlap = score?.overlapBlocks ?? view.overlapBlocks;
  const split =
    view.predictedBlocks > 0 && overlap === view.overlapBlocks
      ? ` (indexed ${overlap - view.predictedBlocks} + predicted ${view.predictedBlocks}` +
        (view.sharedPrefillTokens > 0 ? `, ${view.sharedPrefillTokens}t of them still prefilling)` : ')')
      : '';
  const head = `${view.workerId}: overlap=${overlap}${split} prefill=${view.activePrefillTokens}t active=${view.activeBlocks}b`;
  if (score === undefined) return head;
  return `${head} cost ${score.formula ?? String(score.cost)}`;
}
