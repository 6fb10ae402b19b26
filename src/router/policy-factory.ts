/**
 * From a `--router` flag value to a policy: a built-in name, or a path to a custom policy file.
 * Like choosing `balance roundrobin | leastconn | source | uri` in HAProxy, plus "load mine".
 */
import { loadCustomPolicy } from './custom-policy.ts';
import { UnknownPolicyError } from './errors.ts';
import { KvPolicy } from './policies/kv.ts';
import { KvApproxPolicy } from './policies/kv-approx.ts';
import { KvDelayPolicy } from './policies/kv-delay.ts';
import { KvTtftPolicy } from './policies/kv-ttft.ts';
import { LeastLoadedPolicy } from './policies/least-loaded.ts';
import { PrefixHashPolicy } from './policies/prefix-hash.ts';
import { RandomPolicy } from './policies/random.ts';
import { RoundRobinPolicy } from './policies/round-robin.ts';
import type { PolicyOptions, RoutingPolicy } from './types.ts';

export const BUILTIN_POLICIES = [
  'random',
  'round-robin',
  'prefix-hash',
  'least-loaded',
  'kv',
  'kv-approx',
  'kv-ttft',
  'kv-delay',
] as const;
export type BuiltinPolicyName = (typeof BUILTIN_POLICIES)[number];

/**
 * `--router` when none is given, everywhere (frontend, serve, replay): Dynamo's cost. `kv-ttft` is the
 * candidate successor; it becomes the default here once it meets every bar of issue 12 (router README).
 */
export const DEFAULT_ROUTER_POLICY: BuiltinPolicyName = 'kv';

export function isBuiltinPolicy(spec: string): spec is BuiltinPolicyName {
  return (BUILTIN_POLICIES as readonly string[]).includes(spec);
}

/** A value that names a file rather than a built-in: has a path separator or a JS/TS extension. */
export function isPolicyPath(spec: string): boolean {
  return /[/\\]/.test(spec) || /\.[cm]?[jt]s$/.test(spec);
}

export function createBuiltinPolicy(name: BuiltinPolicyName, options: PolicyOptions = {}): RoutingPolicy {
  switch (name) {
    case 'random':
      return new RandomPolicy(options);
    case 'round-robin':
      return new RoundRobinPolicy();
    case 'prefix-hash':
      return new PrefixHashPolicy(options);
    case 'least-loaded':
      return new LeastLoadedPolicy(options);
    case 'kv':
      return new KvPolicy(options);
    case 'kv-approx':
      return new KvApproxPolicy(options);
    case 'kv-ttft':
      return new KvTtftPolicy(options);
    case 'kv-delay':
      return new KvDelayPolicy(options);
  }
}

/** `--router` value → policy. Built-in names are synchronous underneath; files are imported. */
export async function createPolicy(spec: string, options: PolicyOptions = {}): Promise<RoutingPolicy> {
  if (isBuiltinPolicy(spec)) return createBuiltinPolicy(spec, options);
  if (isPolicyPath(spec)) return loadCustomPolicy(spec, options);
  throw new UnknownPolicyError(
    `unknown router policy "${spec}": use one of ${BUILTIN_POLICIES.join(', ')}, ` +
      'or a path to a policy file such as ./my-policy.ts',
  );
}
