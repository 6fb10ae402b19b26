/**
 * The router's named errors. Each says what went wrong and what to check, like a load balancer's
 * "no healthy upstream" page that names the pool.
 */
import { DhwError } from '../util/errors.ts';

/** No worker can take the request: none registered yet, or all excluded. Maps to HTTP 503. */
export class NoWorkersError extends DhwError {}

/** Every worker that could take the request is at or past its busy threshold. Maps to HTTP 503 `busy`. */
export class AllWorkersBusyError extends DhwError {}

/** A `--router` value that is neither a built-in policy name nor a path to a policy file. */
export class UnknownPolicyError extends DhwError {}

/** A custom policy file that cannot be loaded or does not implement `RoutingPolicy`. */
export class CustomPolicyError extends DhwError {}

/** A policy returned a decision the router cannot act on (a worker that was not offered). */
export class PolicyDecisionError extends DhwError {}

/** Router configuration that does not fit the workers (e.g. two block sizes for one model). */
export class RouterConfigError extends DhwError {}
