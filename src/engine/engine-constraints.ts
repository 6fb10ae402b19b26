/**
 * Constrained decoding in the engine loop: a request's grammar state at admission, the token mask of each
 * constrained sequence before a step, and the grammars advanced by the sampled tokens after it.
 *
 * Like a packet filter on a socket: attached per connection at open, consulted on every packet (step),
 * its state machine advanced by what passed.
 */
import { InvalidRequestError } from '../util/errors.ts';
import { getLogger } from '../util/logger.ts';
import type { EngineRequest } from '../protocols/engine.ts';
import type { GuidedDecoder, TokenConstraint } from './guided-decoding.ts';
import type { SampleResult } from './sampler.ts';
import type { SchedulerOutput } from './scheduler.ts';

const log = getLogger('engine');

/**
 * The grammar state of a `guidedDecoding` request (compiling its schema on first use), else undefined;
 * refused when the engine has no decoder. `eosTokenIds` end it when the request names no stop tokens.
 */
export async function constraintFor(
  decoder: GuidedDecoder | undefined,
  request: EngineRequest,
  eosTokenIds: readonly number[],
): Promise<TokenConstraint | undefined> {
  if (request.guidedDecoding === undefined) return undefined;
  if (!decoder) {
    throw new InvalidRequestError(
      'this engine has no constrained decoding (it was started without its tokenizer): ' +
        'response_format json_object / json_schema cannot be honoured',
      'response_format',
    );
  }
  const stops = request.stopping.stopTokenIds.length > 0 ? request.stopping.stopTokenIds : eosTokenIds;
  return decoder.constrain(request.guidedDecoding, stops);
}

/** Before a step: each constrained sequence that samples gets the mask of its grammar's next tokens. */
export async function prepareMasks(output: SchedulerOutput): Promise<void> {
  for (const { seq, sample } of output.scheduled) {
    seq.tokenMask = sample && seq.constraint ? await seq.constraint.nextMask() : undefined;
  }
}

/** After a step: the sampled tokens advance their sequences' grammars. */
export function advanceConstraints(output: SchedulerOutput, results: Array<SampleResult | undefined>): void {
  output.scheduled.forEach(({ seq }, i) => {
    const tokenId = results[i]?.tokenId;
    if (!seq.constraint || tokenId === undefined) return;
    if (!seq.constraint.accept(tokenId) && !seq.stopping.stopTokenIds.includes(tokenId)) {
      log.warn('a constrained sequence sampled a token its grammar does not allow', {
        requestId: seq.requestId,
        tokenId,
      });
    }
  });
}
