/**
 * Test helpers for the worker: real etcd + NATS on free ports (temp dirs, stopped after), a fresh
 * namespace per test so keys and subjects never mix, a collector of discovery events, and greedy requests.
 */
import { randomBytes } from 'node:crypto';
import { type EtcdServer, type NatsServer, startEtcd, startNats } from '../../infra/local-servers.ts';
import { DEFAULT_SAMPLING, type EngineRequest } from '../../protocols/engine.ts';
import { asRequestId } from '../../protocols/ids.ts';
import type { DiscoveryEvent } from '../../runtime/discovery/index.ts';

export interface TestInfra {
  etcd: EtcdServer;
  nats: NatsServer;
  stop(): Promise<void>;
}

export async function startInfra(): Promise<TestInfra> {
  const [etcd, nats] = await Promise.all([startEtcd(), startNats()]);
  return { etcd, nats, stop: async () => void (await Promise.all([etcd.stop(), nats.stop()])) };
}

export function freshNamespace(): string {
  return `t${randomBytes(4).toString('hex')}`;
}

export function greedyRequest(promptTokenIds: number[], maxTokens: number, id = 'req'): EngineRequest {
  return {
    requestId: asRequestId(`${id}-${randomBytes(3).toString('hex')}`),
    promptTokenIds,
    sampling: { ...DEFAULT_SAMPLING, temperature: 0 },
    stopping: { maxTokens, stopTokenIds: [], ignoreEos: true },
  };
}

/** Discovery events, with a bounded wait for one that matches (a bound for a loaded box, not a latency). */
export class EventLog {
  readonly events: DiscoveryEvent[] = [];
  private waiters: { match: (e: DiscoveryEvent) => boolean; resolve: (e: DiscoveryEvent) => void }[] = [];

  readonly push = (event: DiscoveryEvent): void => {
    this.events.push(event);
    this.waiters = this.waiters.filter((w) => {
      if (!w.match(event)) return true;
      w.resolve(event);
      return false;
    });
  };

  waitFor(match: (e: DiscoveryEvent) => boolean, what: string, timeoutMs = 15_000): Promise<DiscoveryEvent> {
    const seen = this.events.find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no ${what} within ${timeoutMs} ms`)), timeoutMs);
      this.waiters.push({
        match,
        resolve: (e) => {
          clearTimeout(timer);
          resolve(e);
        },
      });
    });
  }
}

/** Poll `check` until it is true, or throw naming `what` (15 s by default: a loaded CI box is slow). */
export async function eventually(check: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
