/**
 * The event plane's wire codec: one envelope = one UTF-8 JSON object, so `nats sub 'namespace.>'` shows
 * readable messages. Like a protocol parser at a network edge, `decodeEnvelope` never throws: bytes that
 * are not JSON, an envelope missing a field, a topic that does not match the subject, or a payload that
 * fails the topic's schema all come back as `{ok: false, reason}` for the caller to log and skip.
 *
 * Also here: `EnvelopeStamper`, which numbers a publisher's messages 1, 2, 3, ... per subject.
 */
import { randomBytes } from 'node:crypto';
import {
  type EventEnvelope,
  type EventTopic,
  isEventEnvelope,
  isTopicPayload,
  type TopicPayloads,
} from '../../protocols/events.ts';

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

export function encodeEnvelope(envelope: EventEnvelope): Uint8Array {
  return encoder.encode(JSON.stringify(envelope));
}

export type DecodeResult<T extends EventTopic> =
  | { ok: true; envelope: EventEnvelope<TopicPayloads[T]> }
  | { ok: false; reason: string };

/** Parse and validate a message received on `topic`'s subject. */
export function decodeEnvelope<T extends EventTopic>(topic: T, data: Uint8Array): DecodeResult<T> {
  let value: unknown;
  try {
    value = JSON.parse(decoder.decode(data));
  } catch (err) {
    return { ok: false, reason: `not UTF-8 JSON: ${(err as Error).message}` };
  }
  if (!isEventEnvelope(value)) {
    return { ok: false, reason: 'not an envelope {publisher_id, sequence, published_at, topic, payload}' };
  }
  if (value.topic !== topic) {
    return { ok: false, reason: `envelope topic "${value.topic}" arrived on the "${topic}" subject` };
  }
  if (!isTopicPayload(topic, value.payload)) {
    return { ok: false, reason: `payload does not match the "${topic}" schema (protocols/)` };
  }
  return { ok: true, envelope: value as EventEnvelope<TopicPayloads[T]> };
}

/** A printable preview of a bad message for the log line (first bytes only). */
export function previewBytes(data: Uint8Array, max = 120): string {
  const text = new TextDecoder('utf-8', { fatal: false }).decode(data.subarray(0, max));
  return data.length > max ? `${text}…` : text;
}

/** A publisher id for a bus that was not given one: `pub-{pid}-{6 hex}`. */
export function randomPublisherId(): string {
  return `pub-${process.pid}-${randomBytes(3).toString('hex')}`;
}

/** Numbers one publisher's envelopes per subject, like TCP sequence numbers per connection. */
export class EnvelopeStamper {
  private readonly lastSequence = new Map<string, number>();

  constructor(
    readonly publisherId: string,
    private readonly now: () => number = Date.now,
  ) {}

  stamp<T extends EventTopic>(
    subject: string,
    topic: T,
    payload: TopicPayloads[T],
  ): EventEnvelope<TopicPayloads[T]> {
    const sequence = (this.lastSequence.get(subject) ?? 0) + 1;
    this.lastSequence.set(subject, sequence);
    return { publisher_id: this.publisherId, sequence, published_at: this.now(), topic, payload };
  }
}
