/**
 * Loading a user's routing policy from a file (`--router ./my-policy.ts`), like nginx loading a Lua
 * balancer or Envoy a Wasm filter: the router core stays the same, the choice of worker is theirs.
 *
 * The module must export one of:
 *   - `createPolicy(options)`      a function returning a RoutingPolicy (or a promise of one);
 *   - `default`                    a RoutingPolicy object, a factory function, or a class taking options.
 * `.ts` files load when the process runs with tsx (as `dhw` and `npm` scripts do).
 */
import { existsSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { CustomPolicyError } from './errors.ts';
import type { PolicyOptions, RoutingPolicy } from './types.ts';

const HOOKS = [
  'onKvEvent',
  'onWorkerAdded',
  'onWorkerRemoved',
  'onRequestFinished',
  'onPrefillDone',
] as const;

export async function loadCustomPolicy(path: string, options: PolicyOptions = {}): Promise<RoutingPolicy> {
  const file = resolve(path);
  if (!existsSync(file)) {
    throw new CustomPolicyError(
      `routing policy file not found: ${file} (from --router ${path}); check the path, relative to ${process.cwd()}`,
    );
  }
  let mod: Record<string, unknown>;
  try {
    mod = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
  } catch (err) {
    throw new CustomPolicyError(
      `could not import routing policy ${file}: ${(err as Error).message}. ` +
        'Check it compiles; .ts policies need the process to run under tsx (dhw does).',
      { cause: err },
    );
  }
  const candidate = await instantiate(mod, options, file);
  return validatePolicy(candidate, file);
}

async function instantiate(
  mod: Record<string, unknown>,
  options: PolicyOptions,
  file: string,
): Promise<unknown> {
  if (typeof mod.createPolicy === 'function') return await mod.createPolicy(options);
  const exported = mod.default;
  if (typeof exported === 'function') {
    const isClass = typeof (exported.prototype as { select?: unknown } | undefined)?.select === 'function';
    return isClass
      ? new (exported as new (o: PolicyOptions) => unknown)(options)
      : await (exported as (o: PolicyOptions) => unknown)(options);
  }
  if (exported !== undefined) return exported;
  throw new CustomPolicyError(
    `routing policy ${file} exports neither createPolicy(options) nor a default export; ` +
      `found exports: ${Object.keys(mod).join(', ') || 'none'}. Export a RoutingPolicy (see src/router/examples/).`,
  );
}

/** Check that `candidate` has the RoutingPolicy shape; name it after its file if it has no name. */
export function validatePolicy(candidate: unknown, source: string): RoutingPolicy {
  const what = `routing policy from ${source}`;
  if (typeof candidate !== 'object' || candidate === null) {
    throw new CustomPolicyError(
      `${what} is ${candidate === null ? 'null' : typeof candidate}, not an object`,
    );
  }
  const policy = candidate as Record<string, unknown>;
  if (typeof policy.select !== 'function') {
    throw new CustomPolicyError(
      `${what} has no select(request, workers) method; a RoutingPolicy must return { workerId, reason } ` +
        'from select (see src/router/types.ts)',
    );
  }
  for (const hook of HOOKS) {
    if (policy[hook] !== undefined && typeof policy[hook] !== 'function') {
      throw new CustomPolicyError(
        `${what}: ${hook} must be a function when present, got ${typeof policy[hook]}`,
      );
    }
  }
  if (typeof policy.name !== 'string') {
    Object.defineProperty(policy, 'name', { value: basename(source).replace(/\.[cm]?[jt]s$/, '') });
  }
  return policy as unknown as RoutingPolicy;
}
