/**
 * Agent metadata in discovery: publish ours under the worker's lease, and keep an agent's peer table equal
 * to what discovery holds — the "central metadata store" mode of NIXL (its etcd mode), with Dynamo's key.
 * A peer whose lease expires (kill -9, lost network) disappears from the table when etcd deletes its key,
 * and a transfer to it fails with UnknownAgentError instead of dialing a dead address.
 */
import type { Discovery, DiscoveryEvent, DiscoveryWatch } from '../runtime/discovery/index.ts';
import {
  type AgentMetadata,
  agentMetadataKey,
  agentMetadataPrefix,
  parseAgentMetadata,
} from './agent-metadata.ts';
import type { TransferAgent } from './agent.ts';

/** Put our metadata under our lease (call again after registering more regions). Returns the key. */
export async function publishAgentMetadata(
  discovery: Discovery,
  namespace: string,
  meta: AgentMetadata,
): Promise<string> {
  const key = agentMetadataKey(namespace, meta.name);
  await discovery.put(key, meta);
  return key;
}

/** Read one peer's metadata; undefined if it is not there (not started, or its lease is gone). */
export async function fetchAgentMetadata(
  discovery: Discovery,
  namespace: string,
  agentName: string,
): Promise<AgentMetadata | undefined> {
  const key = agentMetadataKey(namespace, agentName);
  const value = await discovery.get(key);
  return value === undefined ? undefined : parseAgentMetadata(key, value);
}

export interface AgentDirectoryOptions {
  /** Called for a record that does not parse (it is skipped). */
  onInvalid?: (err: Error) => void;
}

/** Mirrors `/dynamo/v1/nixl_metadata/{ns}/` into `agent`'s peer table until closed. */
export class AgentDirectory {
  private constructor(private readonly watch: DiscoveryWatch) {}

  static async follow(
    discovery: Discovery,
    namespace: string,
    agent: TransferAgent,
    options: AgentDirectoryOptions = {},
  ): Promise<AgentDirectory> {
    const prefix = agentMetadataPrefix(namespace);
    const apply = (event: DiscoveryEvent) => {
      const name = event.key.slice(prefix.length);
      if (name === agent.name) return;
      if (event.type === 'delete') return agent.removeRemoteAgent(name);
      try {
        agent.addRemoteAgent(parseAgentMetadata(event.key, event.value));
      } catch (err) {
        options.onInvalid?.(err as Error);
      }
    };
    const watch = await discovery.watch(prefix, apply);
    for (const { key, value } of watch.initial) apply({ type: 'put', key, value });
    return new AgentDirectory(watch);
  }

  close(): Promise<void> {
    return this.watch.close();
  }
}
