/**
 * Discovery errors: each message says what broke and what to check.
 */
import { DhwError } from '../../util/errors.ts';

export class DiscoveryError extends DhwError {}

/** The backend cannot be reached (etcd down, wrong endpoint, unreadable directory). */
export class DiscoveryUnavailableError extends DiscoveryError {}

/** Our lease expired or was revoked: our keys are gone, and `put` can no longer attach to it. */
export class LeaseLostError extends DiscoveryError {}

/** The message for an etcd that does not answer at startup. */
export function cannotReachEtcdMessage(endpoints: readonly string[]): string {
  const secured = endpoints.some((e) => e.startsWith('https:'))
    ? '; a secured etcd also needs its CA, a client certificate and a user: --cluster-config FILE'
    : '';
  return `Cannot reach etcd at ${endpoints.join(', ')}. Is etcd running? Try: \`dhw infra up\` (and check ETCD_ENDPOINTS)${secured}`;
}
