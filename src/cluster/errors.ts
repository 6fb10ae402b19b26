/**
 * Errors from building, inspecting and tearing down an emulated cluster. Each names what failed and the fix.
 */
import { DhwError } from '../util/errors.ts';

/** A missing capability or tool, a bad node number, or an `ip`/`tc` command that failed (with its stderr). */
export class ClusterError extends DhwError {}
