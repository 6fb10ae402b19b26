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

/** A trace path that names no file; the message gives the resolved path and where the bundled trace is. */
export class TraceNotFoundError extends TraceFormatError {
  constructor(
    message: string,
    readonly path: string,
    options?: { cause?: unknown },
  ) {
    super(message, 0, options);
  }
}

/** Replay options that cannot work together (bad worker count, a block size the trace cannot expand to...). */
export class ReplayConfigError extends DhwError {}

/** Simulated time cannot advance although requests are unfinished: an engine stopped stepping (a bug). */
export class ReplayStuckError extends DhwError {}
