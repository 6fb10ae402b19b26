/**
 * JetStream for Lab 2.3: a stream (a durable, ordered log on disk, like a Kafka topic) captures every
 * message on its subjects; acknowledged publishes survive a server restart; a consumer replays the log from
 * any sequence. This is what lets a router that restarts rebuild its view from the workers' KV events.
 */
import { DeliverPolicy, jetstream, jetstreamManager, StorageType } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { note, printTable } from '../../lib/lab-kit.ts';

export const STREAM = 'LAB_EVENTS';
const SUBJECT_PREFIX = 'lab.events';

/** Create the stream (file storage) and publish `count` messages; returns the acknowledged sequences. */
export async function createAndPublish(nc: NatsConnection, count: number): Promise<number[]> {
  const jsm = await jetstreamManager(nc);
  await jsm.streams.add({ name: STREAM, subjects: [`${SUBJECT_PREFIX}.>`], storage: StorageType.File });
  note(`stream ${STREAM} created: subjects ${SUBJECT_PREFIX}.>, file storage (in the server's -sd dir)`);
  const js = jetstream(nc);
  const seqs: number[] = [];
  for (let i = 1; i <= count; i++) {
    const worker = i % 2 === 0 ? 'worker-b' : 'worker-a';
    const ack = await js.publish(`${SUBJECT_PREFIX}.${worker}`, JSON.stringify({ event: i, type: 'stored' }));
    seqs.push(ack.seq);
  }
  note(`published ${count} messages, each acknowledged with its position in the log: seq ${seqs.join(', ')}`);
  const info = await jsm.streams.info(STREAM);
  note(
    `stream state: ${info.state.messages} messages, ${info.state.bytes} bytes, seq ${info.state.first_seq}..${info.state.last_seq}`,
  );
  return seqs;
}

/** Read the stream from `startSeq` (1 = the beginning) with an ordered consumer; prints and returns the payloads. */
export async function replay(nc: NatsConnection, startSeq: number, expected: number): Promise<string[]> {
  const js = jetstream(nc);
  const consumer = await js.consumers.get(
    STREAM,
    startSeq <= 1
      ? { deliver_policy: DeliverPolicy.All }
      : { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: startSeq },
  );
  const rows: (string | number)[][] = [];
  const payloads: string[] = [];
  // fetch() ends by itself after max_messages or `expires`: no open-ended loop to close.
  const messages = await consumer.fetch({ max_messages: expected, expires: 2000 });
  for await (const msg of messages) {
    payloads.push(msg.string());
    rows.push([msg.seq, msg.subject, msg.string(), msg.timestamp.slice(11, 23)]);
  }
  printTable(['seq', 'subject', 'payload', 'stored at (UTC)'], rows);
  return payloads;
}
