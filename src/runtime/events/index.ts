export type { DecodeResult } from './codec.ts';
export { decodeEnvelope, EnvelopeStamper, encodeEnvelope, randomPublisherId } from './codec.ts';
export { type CreateEventBusOptions, createEventBus } from './create-event-bus.ts';
export {
  EventBusClosedError,
  EventBusUnavailableError,
  EventPublishError,
  InvalidEventError,
} from './errors.ts';
export type {
  ComponentScope,
  EventBus,
  EventBusStats,
  EventHandler,
  EventSubscription,
  KvEventDelivery,
  KvEventHandler,
  KvPublishAck,
  KvReplayFrom,
} from './event-bus.ts';
export { DEFAULT_KV_STREAM_LIMITS, type KvStreamLimits, kvStreamName } from './kv-stream.ts';
export {
  defaultMemoryBroker,
  MemoryBroker,
  MemoryEventBus,
  type MemoryEventBusOptions,
} from './memory-event-bus.ts';
export { DEFAULT_NATS_URL, resolveNatsUrl } from './nats-connection.ts';
export { NatsEventBus, type NatsEventBusOptions } from './nats-event-bus.ts';
export { type NatsSecurity, natsSecurityOptions } from './nats-security.ts';
