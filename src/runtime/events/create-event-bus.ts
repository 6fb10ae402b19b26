/**
 * Picks the event bus, like choosing a transport by URL scheme: `memory` for one process (`npm start`,
 * unit tests), `nats` for a real deployment. The NATS URL comes from `natsServer`, else the `NATS_SERVER`
 * environment variable (the same one Dynamo reads), else nats://127.0.0.1:4222.
 */
import type { EventBus } from './event-bus.ts';
import type { KvStreamLimits } from './kv-stream.ts';
import { type MemoryBroker, MemoryEventBus } from './memory-event-bus.ts';
import { resolveNatsUrl } from './nats-connection.ts';
import type { NatsSecurity } from './nats-security.ts';
import { NatsEventBus } from './nats-event-bus.ts';

export interface CreateEventBusOptions {
  backend: 'memory' | 'nats';
  /** NATS URL (`nats://host:port`, comma-separated for several). Default: `$NATS_SERVER`, else nats://127.0.0.1:4222. */
  natsServer?: string;
  /** Stamped into envelopes; a worker passes its instance id. Default: `pub-{pid}-{random}`. */
  publisherId?: string;
  /** memory only: the in-process broker to share (default: one per process). */
  broker?: MemoryBroker;
  /** nats only: first-connect timeout, default 3000 ms. */
  connectTimeoutMs?: number;
  /** nats only: wait between reconnect attempts, default 250 ms (+ up to 100 ms jitter). */
  reconnectWaitMs?: number;
  /** nats only: reconnect attempts before giving up, default -1 (never). */
  maxReconnectAttempts?: number;
  /** nats only: how long publishKvEvent retries through an outage, default 30 000 ms. */
  kvPublishDeadlineMs?: number;
  /** nats only: limits of KV streams this bus creates. */
  kvStreamLimits?: Partial<KvStreamLimits>;
  /** nats only: TLS and credentials of a secured nats-server (`dhw infra up --secure`). */
  natsSecurity?: NatsSecurity;
}

/**
 * A connected event bus. For `nats`, rejects within about `connectTimeoutMs` with an
 * `EventBusUnavailableError` naming the URL when the server cannot be reached or has JetStream off.
 */
export async function createEventBus(options: CreateEventBusOptions): Promise<EventBus> {
  if (options.backend === 'memory') {
    return new MemoryEventBus({ broker: options.broker, publisherId: options.publisherId });
  }
  const { backend: _, natsServer, broker: __, ...rest } = options;
  return NatsEventBus.connect({ ...rest, url: resolveNatsUrl(natsServer) });
}
