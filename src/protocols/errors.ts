/**
 * The error classes a wire contract needs: the base of every named error in the project, and the one an
 * edge throws when a message breaks its contract. They live here, not in util/, because the validators in
 * this folder throw them and protocols/ imports nothing; util/errors.ts re-exports both.
 */

/** Base of the project's named errors: the class name becomes `name`, and `cause` is kept. */
export class DhwError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** A request that cannot be served as sent (bad field, prompt too long). Maps to HTTP 400. */
export class InvalidRequestError extends DhwError {
  constructor(
    message: string,
    readonly param: string | null = null,
    readonly code: string | null = null,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
