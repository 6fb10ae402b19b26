/**
 * `dhw events tail` as a user runs it: a real nats-server, the real CLI process, JSON lines on stdout,
 * Ctrl-C (SIGINT) to stop.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, it } from 'node:test';
import { type NatsServer, startNats } from '../../infra/local-servers.ts';
import type { EventEnvelope } from '../../protocols/events.ts';
import { createEventBus, type EventBus } from '../../runtime/events/index.ts';
import {
  freshScope,
  retryUntil,
  sampleKvEvent,
  sampleLoad,
} from '../../runtime/events/testing/event-bus-kit.ts';
import { repoRoot } from '../../util/paths.ts';

let server: NatsServer;
let bus: EventBus;
before(async () => {
  server = await startNats();
  bus = await createEventBus({ backend: 'nats', natsServer: server.url, publisherId: 'worker-1' });
});
after(async () => {
  await bus?.close();
  await server?.stop();
});

it('dhw events tail --from-start prints replayed and live envelopes as JSON lines until SIGINT', async () => {
  const scope = freshScope();
  await bus.publishKvEvent(scope, sampleKvEvent('worker-1', 1));
  await bus.publishKvEvent(scope, sampleKvEvent('worker-1', 2));
  const args = [
    'events',
    'tail',
    '--nats-server',
    server.url,
    '--namespace',
    scope.namespace,
    '--from-start',
  ];
  const child = spawn(process.execPath, [join(repoRoot, 'bin', 'dhw.mjs'), ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = once(child, 'exit');
  const lines: EventEnvelope[] = [];
  createInterface({ input: child.stdout }).on('line', (line) => lines.push(JSON.parse(line)));
  try {
    // Load reports are live only: keep sending until the tail, once subscribed, prints one.
    await retryUntil(
      () => bus.publish(scope, 'kv_metrics', sampleLoad('worker-1', 4)),
      () => lines.some((e) => e.topic === 'kv_metrics'),
      'a kv_metrics line',
      { everyMs: 200 },
    );
    const kv = lines.filter((e) => e.topic === 'kv-events');
    assert.deepEqual(
      kv.map((e) => [e.publisher_id, e.sequence]),
      [
        ['worker-1', 1],
        ['worker-1', 2],
      ],
    );
    assert.deepEqual(kv[1].payload, sampleKvEvent('worker-1', 2));
  } finally {
    child.kill('SIGINT');
  }
  const [code] = await exited;
  assert.equal(code, 0);
});
