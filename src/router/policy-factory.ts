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
 * `--router` when none is given, everywhere (frontend, serve, replay): `kv-delay`, the predicted-delay
 * policy (this request's predicted TTFT on each worker plus the stall its prefill puts on the requests
 * decoding there, under the "wait no longer than you save" bound). `kv` stays available as Dynamo's cost.
 * Why, and which of issue 12's bars it meets: router README, rounds 4 and 5.
 */
export const DEFAULT_ROUTER_POLICY: BuiltinPolicyName = 'kv-delay';

/** One line per built-in policy, for `--router` help text: what it picks, in a few words. */
export const POLICY_SUMMARIES: Readonly<Record<BuiltinPolicyName, string>> = {
  random: 'uniform, seeded',
  'round-robin': 'next worker in turn',
  'prefix-hash': 'consistent hash of the prompt prefix, bounded loads',
  'least-loaded': 'least prefill + decode load',
  kv: "Dynamo's cost: weight × uncached prefill blocks + active blocks",
  'kv-approx': "Dynamo's cost on the router's own past decisions, for workers without KV events",
  'kv-ttft': 'predicted delay, bounded loads, wait bound of one prompt',
  'kv-delay':
    'predicted delay: TTFT there + the stall its prefill puts on the decoders there + the price of copying a prefix another worker holds',
};

/** `--router` help, the default first: "kv-delay (predicted delay: ...) | ... | kv (Dynamo's cost: ...) | ./my-policy.ts". */
export function routerFlagHelp(): string {
  const names = [DEFAULT_ROUTER_POLICY, ...BUILTIN_POLICIES.filter((p) => p !== DEFAULT_ROUTER_POLICY)];
  return `${names.map((p) => `${p} (${POLICY_SUMMARIES[p]})`).join(' | ')} | ./my-policy.ts`;
}

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
