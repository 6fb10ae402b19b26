/**
 * What a public endpoint may show about the cluster behind it. Worker addresses are internal topology
 * (the request plane's host:port): an outside caller who learns them can aim at the workers directly, so
 * /health shows them only to callers this server trusts: holders of the API key, or, when no key is
 * configured, callers on this very host (an operator's curl, a sidecar probe). Everyone else sees ids and
 * models: enough to tell how many workers serve.
 */
import type { RequestContext, ServerState } from './request-context.ts';
import type { InstanceSummary } from './served-model.ts';

export function visibleInstances(
  instances: InstanceSummary[],
  server: ServerState,
  ctx: RequestContext,
): InstanceSummary[] | Omit<InstanceSummary, 'address'>[] {
  if (maySeeInternals(server, ctx)) return instances;
  return instances.map(({ id, model }) => ({ id, model }));
}

/** Authenticated with the API key; or no key configured and the caller is on this host. */
export function maySeeInternals(server: ServerState, ctx: RequestContext): boolean {
  if (server.auth?.enabled) return ctx.authenticated === true;
  const { remoteAddress, localAddress } = ctx.req.socket;
  return remoteAddress !== undefined && (isLoopback(remoteAddress) || remoteAddress === localAddress);
}

function isLoopback(address: string): boolean {
  return address === '::1' || address.startsWith('127.') || address.startsWith('::ffff:127.');
}
