/**
 * Named error classes. Each message says what went wrong and what to check, like a good ops runbook entry.
 */
export class DhwError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** A model checkpoint that cannot be loaded: unknown architecture, missing tensor, wrong shape. */
export class ModelLoadError extends DhwError {}

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

/** A tokenizer or chat template that cannot be loaded or applied. */
export class TokenizerError extends DhwError {}

/** Internal invariant check. Guards our own logic, never user input (that gets a named error). */
export function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Error(`assertion failed: ${message}`);
}
