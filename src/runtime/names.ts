/**
 * Dynamo's naming, like DNS names for services: namespace / component / endpoint / instance.
 *   namespace  a deployment ("dynamo"), like a Kubernetes namespace
 *   component  a role inside it ("backend", "prefill", "frontend")
 *   endpoint   one callable method of the component ("generate")
 *   instance   one process serving it; its id is the hex of its discovery lease id
 *
 * Registry keys (docs/design-notes.md#discovery) live under `/dynamo/` so that
 * `etcdctl get --prefix /dynamo` shows everything:
 *   /dynamo/v1/instances/{ns}/{component}/{endpoint}/{instanceId}   → InstanceInfo
 *   /dynamo/v1/mdc/{ns}/{component}/{endpoint}/{instanceId}         → ModelCard
 * Names are restricted to [A-Za-z0-9_-] so the same names also work as NATS subject tokens.
 */
import type { InstanceId } from '../protocols/discovery.ts';

export const DISCOVERY_ROOT = '/dynamo/';
export const INSTANCES_ROOT = '/dynamo/v1/instances/';
export const MODEL_CARDS_ROOT = '/dynamo/v1/mdc/';

export const DEFAULT_NAMESPACE = 'dynamo';

/** Which endpoint: the three names that are the same for every instance serving it. */
export interface EndpointId {
  namespace: string;
  component: string;
  endpoint: string;
}

const NAME_PATTERN = /^[A-Za-z0-9_-]+$/;
const INSTANCE_ID_PATTERN = /^[0-9a-f]{1,16}$/;

export function isValidName(name: string): boolean {
  return NAME_PATTERN.test(name);
}

/** Throws RangeError naming the bad part; returns the id for chaining. */
export function checkEndpointId(id: EndpointId): EndpointId {
  for (const part of ['namespace', 'component', 'endpoint'] as const) {
    if (!isValidName(id[part])) {
      throw new RangeError(
        `${part} must match ${NAME_PATTERN} (letters, digits, _ and -), got ${JSON.stringify(id[part])}`,
      );
    }
  }
  return id;
}

/** The instance id of a lease: its 64-bit id in lower-case hex (etcd's JSON gives lease ids as decimal strings). */
export function instanceIdFromLease(leaseId: string | bigint): InstanceId {
  const id = typeof leaseId === 'bigint' ? leaseId : BigInt(leaseId);
  if (id <= 0n || id >= 1n << 64n) throw new RangeError(`lease id out of range: ${leaseId}`);
  return id.toString(16);
}

/** Back from hex to etcd's decimal lease id. */
export function leaseFromInstanceId(instanceId: InstanceId): string {
  checkInstanceId(instanceId);
  return BigInt(`0x${instanceId}`).toString(10);
}

function checkInstanceId(instanceId: string): void {
  if (!INSTANCE_ID_PATTERN.test(instanceId)) {
    throw new RangeError(`instance id must be 1-16 lower-case hex digits, got ${JSON.stringify(instanceId)}`);
  }
}

function endpointPath(id: EndpointId): string {
  checkEndpointId(id);
  return `${id.namespace}/${id.component}/${id.endpoint}`;
}

/** `/dynamo/v1/instances/{ns}/{component}/{endpoint}/{instanceId}` */
export function instanceKey(id: EndpointId, instanceId: InstanceId): string {
  checkInstanceId(instanceId);
  return `${INSTANCES_ROOT}${endpointPath(id)}/${instanceId}`;
}

/** `/dynamo/v1/mdc/{ns}/{component}/{endpoint}/{instanceId}` */
export function modelCardKey(id: EndpointId, instanceId: InstanceId): string {
  checkInstanceId(instanceId);
  return `${MODEL_CARDS_ROOT}${endpointPath(id)}/${instanceId}`;
}

/** A prefix to list/watch: as deep as the names given, always ending in '/' (so "a" never matches "ab"). */
function scopedPrefix(root: string, scope: Partial<EndpointId>): string {
  const parts: string[] = [];
  for (const part of ['namespace', 'component', 'endpoint'] as const) {
    const name = scope[part];
    if (name === undefined) break;
    if (!isValidName(name))
      throw new RangeError(`${part} must match ${NAME_PATTERN}, got ${JSON.stringify(name)}`);
    parts.push(name);
  }
  return parts.length === 0 ? root : `${root}${parts.join('/')}/`;
}

/** Prefix of instance records: all, one namespace, one component, or one endpoint's instances. */
export function instancesPrefix(scope: Partial<EndpointId> = {}): string {
  return scopedPrefix(INSTANCES_ROOT, scope);
}

/** Prefix of model cards, scoped like `instancesPrefix`. Frontends watch this to learn which models exist. */
export function modelCardsPrefix(scope: Partial<EndpointId> = {}): string {
  return scopedPrefix(MODEL_CARDS_ROOT, scope);
}

export interface ParsedDiscoveryKey extends EndpointId {
  kind: 'instance' | 'model-card';
  instanceId: InstanceId;
}

/** The parts of an instance or model-card key, or undefined for any other key. */
export function parseDiscoveryKey(key: string): ParsedDiscoveryKey | undefined {
  let kind: ParsedDiscoveryKey['kind'];
  let rest: string;
  if (key.startsWith(INSTANCES_ROOT)) {
    kind = 'instance';
    rest = key.slice(INSTANCES_ROOT.length);
  } else if (key.startsWith(MODEL_CARDS_ROOT)) {
    kind = 'model-card';
    rest = key.slice(MODEL_CARDS_ROOT.length);
  } else {
    return undefined;
  }
  const parts = rest.split('/');
  if (parts.length !== 4) return undefined;
  const [namespace, component, endpoint, instanceId] = parts as [string, string, string, string];
  if (![namespace, component, endpoint].every(isValidName) || !INSTANCE_ID_PATTERN.test(instanceId))
    return undefined;
  return { kind, namespace, component, endpoint, instanceId };
}
