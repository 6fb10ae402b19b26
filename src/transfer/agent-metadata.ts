/**
 * What an agent tells its peers (NIXL's "agent metadata", exchanged out of band): its name, the host it
 * runs on, where its data connections listen, and the regions it registered with their layouts. Peers
 * need nothing else to READ or WRITE its blocks — the RDMA analogy is the (address, rkey) pairs a
 * one-sided verb needs, here (address, region name, layout).
 *
 * Stored in discovery under the worker's lease (Dynamo's NixlMetadataStore used `{namespace}/nixl_metadata/
 * {engine_id}`; we keep that name under our `/dynamo/v1/` root), so it vanishes when the worker dies:
 *
 *     /dynamo/v1/nixl_metadata/{namespace}/{agentName} → AgentMetadata (JSON)
 */
import { AgentMetadataError } from './errors.ts';
import { layoutProblem } from './layout.ts';
import type { RegionInfo } from './region.ts';
import type { TransportKind } from './transport.ts';

export const NIXL_METADATA_ROOT = '/dynamo/v1/nixl_metadata/';

export interface AgentEndpoint {
  kind: TransportKind;
  address: string;
}

export interface AgentMetadata {
  /** Unique in the namespace; a worker uses its instance id (lease id in hex). */
  name: string;
  /** os.hostname(): peers on the same host prefer the Unix socket. */
  host: string;
  /** OS process id: the in-process memory transport is used only between agents of one process. */
  pid: number;
  endpoints: AgentEndpoint[];
  regions: RegionInfo[];
}

const NAME_PATTERN = /^[A-Za-z0-9_-]+$/;

export function agentMetadataPrefix(namespace: string): string {
  if (!NAME_PATTERN.test(namespace))
    throw new RangeError(`namespace must match ${NAME_PATTERN}, got ${JSON.stringify(namespace)}`);
  return `${NIXL_METADATA_ROOT}${namespace}/`;
}

export function agentMetadataKey(namespace: string, agentName: string): string {
  if (!NAME_PATTERN.test(agentName))
    throw new RangeError(`agent name must match ${NAME_PATTERN}, got ${JSON.stringify(agentName)}`);
  return `${agentMetadataPrefix(namespace)}${agentName}`;
}

/** Validate a record read from discovery; throws AgentMetadataError naming the key and the field. */
export function parseAgentMetadata(key: string, value: unknown): AgentMetadata {
  const fail = (what: string) =>
    new AgentMetadataError(
      `transfer-agent metadata at ${key} is invalid: ${what}. Check the publishing worker's version.`,
    );
  if (typeof value !== 'object' || value === null) throw fail('not an object');
  const m = value as Record<string, unknown>;
  if (typeof m.name !== 'string' || typeof m.host !== 'string') throw fail('name and host must be strings');
  if (!Number.isInteger(m.pid)) throw fail('pid must be an integer');
  if (!Array.isArray(m.endpoints) || !Array.isArray(m.regions))
    throw fail('endpoints and regions must be arrays');
  for (const e of m.endpoints as Record<string, unknown>[]) {
    if (!['tcp', 'unix', 'shm', 'memory'].includes(e?.kind as string) || typeof e.address !== 'string')
      throw fail('each endpoint needs kind (tcp|unix|shm|memory) and address');
  }
  for (const r of m.regions as Record<string, unknown>[]) {
    if (typeof r?.name !== 'string' || !Number.isInteger(r.numBlocks))
      throw fail('each region needs name and numBlocks');
    const problem = layoutProblem(r.layout);
    if (problem) throw fail(`region ${r.name}: ${problem}`);
  }
  return value as AgentMetadata;
}
