/**
 * Worker errors. Each message says what failed and what to check, like a service's startup diagnostics.
 */
import type { RemoteErrorCode } from '../protocols/request-plane.ts';
import { DhwError } from '../util/errors.ts';

/** The worker could not start or serve (engine, request plane, status port, registration). */
export class WorkerError extends DhwError {}

/**
 * A request the worker refuses as sent. `code` travels to the caller in the request plane's FINAL frame
 * (RemoteError.code): `invalid_request` maps to HTTP 400 at the frontend.
 */
export class WorkerRequestError extends DhwError {
  constructor(
    message: string,
    readonly code: RemoteErrorCode,
    options?: { cause?: unknown; param?: string | null },
  ) {
    super(message, options);
    if (options?.param) this.param = options.param;
  }

  /** The request field an `invalid_request` is about, sent to the caller with the error. */
  readonly param?: string;
}

/** Exit code of `dhw worker` when its discovery lease is lost (its registration is gone). */
export const EXIT_LEASE_LOST = 3;
