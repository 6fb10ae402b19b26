/**
 * Core NATS for Lab 2.3: fire-and-forget pub/sub and request/reply, with nats.js
 * (`@nats-io/transport-node`). Core NATS is a switchboard, not a mailbox: the server forwards a message to
 * whoever is subscribed at that instant and keeps nothing, like UDP multicast with TCP's reliability per hop.
 */
import { performance } from 'node:perf_hooks';
import { type NatsConnection, NoRespondersError } from '@nats-io/transport-node';
import { median, percentile } from '../../../src/util/stats.ts';
import { note } from '../../lib/lab-kit.ts';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A message published before anyone subscribes is gone; one published after arrives. */
export async function publishWithoutSubscriber(nc: NatsConnection): Promise<void> {
  const subject = 'lab.greetings';
  nc.publish(subject, 'message 1: anyone there?');
  await nc.flush(); // the server has it (and has dropped it: no interest in lab.greetings)
  note(`published "message 1" on ${subject} with no subscriber`);

  const received: string[] = [];
  const sub = nc.subscribe(subject, {
    callback: (_err, msg) => {
      received.push(msg.string());
    },
  });
  await nc.flush(); // the SUB is registered at the server before we publish again
  note(`subscribed to ${subject}`);
  nc.publish(subject, 'message 2: hello, subscriber');
  await nc.flush();
  await sleep(50);
  sub.unsubscribe();
  note(`the subscriber received ${received.length} message(s): ${received.map((m) => `"${m}"`).join(', ')}`);
  note('Core NATS: a message published with no subscriber is gone (no queue, no retention).');
}

/** One-way latency publish → subscriber callback, same process (so one clock). */
export async function measurePubSub(nc: NatsConnection, count: number): Promise<void> {
  const latencies: number[] = [];
  let done: () => void = () => {};
  const allIn = new Promise<void>((resolve) => {
    done = resolve;
  });
  const sub = nc.subscribe('lab.latency', {
    callback: (_err, msg) => {
      latencies.push(performance.now() - Number(msg.string()));
      if (latencies.length === count) done();
    },
  });
  await nc.flush();
  for (let i = 0; i < count; i++) {
    nc.publish('lab.latency', String(performance.now()));
    if (i % 10 === 9) await nc.flush(); // pace it: we measure latency, not how deep a burst can queue
  }
  await allIn;
  sub.unsubscribe();
  note(
    `pub → sub over loopback, ${count} messages: p50 ${(median(latencies) * 1000).toFixed(0)} µs, ` +
      `p99 ${(percentile(latencies, 99) * 1000).toFixed(0)} µs`,
  );
}

/** A tiny "service" answering on a subject; a request with no responder fails at once. */
export async function requestReply(nc: NatsConnection): Promise<void> {
  const service = nc.subscribe('lab.time', {
    callback: (_err, msg) => {
      msg.respond(`it is ${new Date().toISOString()}`);
    },
  });
  await nc.flush();
  const times: number[] = [];
  let answer = '';
  for (let i = 0; i < 20; i++) {
    const started = performance.now();
    answer = (await nc.request('lab.time', 'what time is it?', { timeout: 1000 })).string();
    times.push(performance.now() - started);
  }
  note(
    `request lab.time → "${answer}"; round trip p50 ${(median(times) * 1000).toFixed(0)} µs (20 requests)`,
  );
  service.unsubscribe();
  await nc.flush();
  const started = performance.now();
  try {
    await nc.request('lab.time', 'anyone?', { timeout: 1000 });
    note('unexpected: a reply without a service');
  } catch (err) {
    const noResponders =
      err instanceof NoRespondersError || (err as Error).cause instanceof NoRespondersError;
    const kind = noResponders || String(err).includes('no responders') ? 'no responders' : String(err);
    note(
      `request with the service gone: "${kind}" after ${(performance.now() - started).toFixed(1)} ms, not a ` +
        '1 s timeout: the server knows nobody is subscribed and says so (like a TCP RST instead of a hang).',
    );
  }
}
