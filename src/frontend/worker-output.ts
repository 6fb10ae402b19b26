/**
 * A worker's `generate` stream item, validated where it enters the frontend process: both the decode path
 * (routed-engine.ts) and the remote prefill (remote-prefill.ts) read worker streams through here. Like a
 * proxy checking an upstream's response framing before it forwards a byte.
 */
import { type EngineOutput, explainEngineOutput } from '../protocols/engine.ts';
import type { WorkerId } from '../protocols/ids.ts';
import { DhwError } from '../util/errors.ts';

/** A worker answered with something that is not an EngineOutput (a version mismatch or a bug). */
export class MalformedWorkerOutputError extends DhwError {}

/** The item as an EngineOutput, or MalformedWorkerOutputError naming what is wrong with it. */
export function checkOutput(item: unknown, workerId: WorkerId): EngineOutput {
  const problem = explainEngineOutput(item);
  if (problem !== undefined) {
    throw new MalformedWorkerOutputError(
      `worker ${workerId} sent a stream item that is not an EngineOutput (${problem}): ${JSON.stringify(item).slice(0, 200)}; ` +
        'check that the worker and the frontend run the same version',
    );
  }
  const output = item as EngineOutput;
  // JSON turns undefined into absent but a null may arrive from other implementations: normalize.
  if (output.finishReason === null) delete output.finishReason;
  if (output.kvTransferParams === null) delete output.kvTransferParams;
  return output;
}
