/**
 * Named error classes. Each message says what went wrong and what to check, like a good ops runbook entry.
 */
import { DhwError } from '../protocols/errors.ts';

// The base class and the wire contract's "invalid request" live in protocols/ (its validators throw it).
export { DhwError, InvalidRequestError } from '../protocols/errors.ts';

/** A model checkpoint that cannot be loaded: unknown architecture, missing tensor, wrong shape. */
export class ModelLoadError extends DhwError {}

/** A tokenizer or chat template that cannot be loaded or applied. */
export class TokenizerError extends DhwError {}

/** Internal invariant check. Guards our own logic, never user input (that gets a named error). */
export function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Error(`assertion failed: ${message}`);
}
