/**
 * `dhw ls --prometheus-sd FILE`: the registered workers as a Prometheus file-based service-discovery target
 * list (`file_sd_configs`), one group per worker status server (`host:systemPort`, where /metrics is), with
 * its namespace, component, instance and model as labels. Prometheus re-reads the file when it changes, so
 * `--every 15` keeps it current as workers come and go (written to a temporary file and renamed, so a
 * scrape never reads half a file). Like consul-template rendering a target list from a service catalog.
 */
import { renameSync, writeFileSync } from 'node:fs';
import type { InstanceInfo } from '../../protocols/discovery.ts';

/** A registered instance as `dhw ls` lists it (with the model its card names). */
export type SdInstance = InstanceInfo & { model?: string };

export interface FileSdGroup {
  targets: string[];
  labels: Record<string, string>;
}

/** The host part of a request-plane address "host:port" / "[v6]:port" (where the status server runs too). */
function hostOf(address: string): string | undefined {
  const m = /^(\[[^\]]+\]|[^:]+):\d+$/.exec(address);
  return m?.[1];
}

export function fileSdGroups(instances: readonly SdInstance[]): FileSdGroup[] {
  const groups: FileSdGroup[] = [];
  for (const i of instances) {
    const host = hostOf(i.transport.tcp);
    if (i.systemPort === undefined || host === undefined) continue;
    groups.push({
      targets: [`${host}:${i.systemPort}`],
      labels: {
        dynamo_namespace: i.namespace,
        dynamo_component: i.component,
        instance_id: i.instanceId,
        ...(i.model === undefined ? {} : { model: i.model }),
      },
    });
  }
  return groups;
}

/** Write the groups to `file` atomically (temp file + rename). */
export function writeFileSd(file: string, groups: readonly FileSdGroup[]): void {
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, `${JSON.stringify(groups, null, 2)}\n`);
  renameSync(tmp, file);
}
