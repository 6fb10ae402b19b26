/** Named errors of the trace replay: a trace that cannot be read, and a simulation that stopped making progress. */
import { DhwError } from '../util/errors.ts';

/** A trace line that is not a Mooncake record; the message names the file and line and what to fix. */
export class TraceFormatError extends DhwError {
  constructor(
    message: string,
    readonly line: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Replay options that cannot work together (bad worker count, a block size the trace cannot expand to...). */
export class ReplayConfigError extends DhwError {}

/** Simulated time cannot advance although requests are unfinished: an engine stopped stepping (a bug). */
export class ReplayStuckError extends DhwError {}
