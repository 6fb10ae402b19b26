/**
 * Lab 2.3: NATS by hand. A private nats-server with JetStream on a free loopback port, then nats.js:
 * core pub/sub (a message with no subscriber is gone), request/reply (and "no responders"), a JetStream
 * stream that keeps messages on disk across a server restart and replays them from any sequence, and the
 * health check against a live and a stopped server. Like RabbitMQ by hand: exchange-style fan-out first,
 * then a durable queue, then a broker restart to see which messages survive.
 *
 * @expect /nats .*: healthy, version 2\.\d+/
 * @expect Core NATS: a message published with no subscriber is gone
 * @expect /"no responders" after [\d.]+ ms/
 * @expect /server restarted: pid \d+ → \d+/
 * @expect /replayed 5 of 5 messages after the restart/
 * @expect /router replayed 4 of 4 KV events after the restart/
 * @expect /UNHEALTHY .*connection refused/
 * @expect nats-server stopped
 * @expect Lab complete.
 */
import { performance } from 'node:perf_hooks';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { type NatsServer, startNats } from '../../../src/infra/local-servers.ts';
import { banner, isSmoke, note, runLab, step } from '../../lib/lab-kit.ts';
import { measurePubSub, publishWithoutSubscriber, requestReply } from './core-nats.ts';
import { eventBusReplay } from './event-bus-replay.ts';
import { checkNatsHealth, formatNatsHealth } from './health-check.ts';
import { createAndPublish, replay, STREAM } from './jetstream-replay.ts';

const EVENTS = 5;

async function connectTo(nats: NatsServer): Promise<NatsConnection> {
  note(`connect({ servers: "${nats.url}" })   // @nats-io/transport-node`);
  return connect({ servers: nats.url, name: 'lab-2.3', timeout: 3000 });
}

async function main(): Promise<void> {
  banner('2.3', 'NATS by hand');

  step('Start a private nats-server with JetStream (src/infra startNats)');
  const nats = await startNats();
  let nc: NatsConnection | undefined;
  let stopped = false;
  try {
    note(`client url ${nats.url}, monitoring ${nats.monitorUrl}, pid ${nats.pid}, store dir ${nats.dataDir}`);
    note(
      `the same as: nats-server -a 127.0.0.1 -p ${new URL(nats.url).port} -m ${new URL(nats.monitorUrl).port} -js -sd ${nats.dataDir}`,
    );
    note(formatNatsHealth(await checkNatsHealth(nats.monitorUrl)));
    nc = await connectTo(nats);

    step('Core NATS: publish before and after a subscriber exists');
    await publishWithoutSubscriber(nc);
    await measurePubSub(nc, isSmoke() ? 100 : 2000);

    step('Request/reply: a subject as a service address');
    await requestReply(nc);

    step(`JetStream: a durable log (stream ${STREAM})`);
    await createAndPublish(nc, EVENTS);
    note(formatNatsHealth(await checkNatsHealth(nats.monitorUrl)));

    step('Restart the server (same port, same store dir): a crash and recovery');
    await nc.close();
    nc = undefined;
    const oldPid = nats.pid;
    const started = performance.now();
    await nats.restart();
    note(`server restarted: pid ${oldPid} → ${nats.pid} in ${(performance.now() - started).toFixed(0)} ms`);
    nc = await connectTo(nats);

    step('Replay the stream from the start, then from sequence 3');
    const all = await replay(nc, 1, EVENTS);
    note(`replayed ${all.length} of ${EVENTS} messages after the restart: JetStream kept them on disk.`);
    const tail = await replay(nc, 3, EVENTS - 2);
    note(`from seq 3: ${tail.length} messages (a consumer that knows where it stopped resumes there).`);

    step(
      'The same through our EventBus: a worker publishes KV events, the server restarts, a router replays',
    );
    await nc.close();
    nc = undefined;
    await eventBusReplay(nats);

    step('Stop the server, then run the health check again');
    await nats.stop();
    stopped = true;
    note('nats-server stopped');
    note(formatNatsHealth(await checkNatsHealth(nats.monitorUrl, 500)));
  } finally {
    await nc?.close();
    if (!stopped) await nats.stop();
  }
}

runLab(main, 'nats-server missing? sudo apt-get install -y nats-server. Then: npm run lab -- 2.3 --smoke');
