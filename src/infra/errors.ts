/**
 * Errors from starting and stopping local etcd / NATS servers. Each says what failed and what to check.
 */
import { DhwError } from '../util/errors.ts';

/** A server binary is missing, would not start, or did not become ready in time. */
export class InfraError extends DhwError {}

/** The exact command that installs both servers on Debian/Ubuntu (the hint every "missing binary" error gives). */
export const INSTALL_HINT = 'sudo apt-get install -y etcd-server etcd-client nats-server';
