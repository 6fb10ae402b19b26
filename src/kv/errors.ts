/**
 * Errors of the KV cache component. Invariant violations use `assert`; these are for configuration and
 * for calls made in the wrong order, which a caller can fix.
 */
import { DhwError } from '../util/errors.ts';

/** A KV cache setting that cannot work: a size that does not parse, a pool too small for one block. */
export class KvConfigError extends DhwError {}
