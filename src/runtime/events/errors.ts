/**
 * Named errors of the event bus. Each message says what failed and what to check.
 */
import { DhwError } from '../../util/errors.ts';

/** NATS (or its JetStream) cannot be reached or used: server down, wrong URL, JetStream off. */
export class EventBusUnavailableError extends DhwError {}

/** A durable (JetStream) publish was not acknowledged before its deadline. */
export class EventPublishError extends DhwError {}

/** A caller tried to publish something the wire schema rejects, or used an illegal namespace/component. */
export class InvalidEventError extends DhwError {}

/** The bus was used after `close()`. */
export class EventBusClosedError extends DhwError {}
