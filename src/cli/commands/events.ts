/**
 * `dhw events tail`: print the event plane's traffic as JSON lines, like `tcpdump` for KV events and load
 * reports. One envelope per line on stdout (pipe it to `jq`); malformed messages are reported on stderr.
 * Runs until Ctrl-C. `--from-start` replays the durable KV-event log before following it live.
 */
import { EVENT_TOPICS, type EventEnvelope, type EventTopic } from '../../protocols/events.ts';
import { createEventBus, type EventBus, type EventSubscription } from '../../runtime/events/index.ts';
import { CLUSTER_FLAGS, clusterEvents, clusterFromFlags } from '../security-flags.ts';
import { formatHelp, LOGGING_FLAGS, stringFlag, UsageError } from '../args.ts';
import type { Command } from '../command.ts';
import { beginCommand } from '../command-prologue.ts';
import { firstSignal } from '../signals.ts';

const FLAGS = {
  ...CLUSTER_FLAGS,
  'nats-server': {
    type: 'string' as const,
    help: 'NATS URL (default: $NATS_SERVER, else nats://127.0.0.1:4222)',
  },
  namespace: { type: 'string' as const, default: 'dynamo', help: 'Dynamo namespace' },
  component: { type: 'string' as const, default: 'backend', help: 'component whose events to show' },
  topic: {
    type: 'string' as const,
    default: 'all',
    help: `${EVENT_TOPICS.join(' | ')} | all`,
  },
  'from-start': { type: 'boolean' as const, help: 'replay the durable kv-events log from its first event' },
  ...LOGGING_FLAGS,
};
const USAGE =
  'dhw events tail [--nats-server URL] [--namespace dynamo] [--component backend] [--topic kv-events|kv_metrics|all] [--from-start]';
const DESCRIPTION =
  'Print event envelopes {publisher_id, sequence, published_at, topic, payload} as JSON lines until Ctrl-C.';

function topicsFlag(value: string | undefined): EventTopic[] {
  if (value === undefined || value === 'all') return [...EVENT_TOPICS];
  if ((EVENT_TOPICS as readonly string[]).includes(value)) return [value as EventTopic];
  throw new UsageError(
    `--topic must be one of ${EVENT_TOPICS.join(', ')} or all, got ${JSON.stringify(value)}`,
  );
}

/** Resolves on the first SIGINT/SIGTERM, or when stdout goes away (`| head`). */
function untilStopped(): Promise<void> {
  const signals = firstSignal();
  return new Promise((resolve) => {
    const stop = () => {
      signals.dispose();
      resolve();
    };
    void signals.received.then(stop);
    process.stdout.on('error', stop);
  });
}

async function follow(
  bus: EventBus,
  scope: { namespace: string; component: string },
  topics: EventTopic[],
  fromStart: boolean,
): Promise<EventSubscription[]> {
  const print = (envelope: EventEnvelope) => {
    process.stdout.write(`${JSON.stringify(envelope)}\n`);
  };
  const subscriptions: EventSubscription[] = [];
  for (const topic of topics) {
    if (topic === 'kv-events' && fromStart) {
      subscriptions.push(await bus.consumeKvEvents(scope, 'start', (d) => print(d.envelope)));
    } else {
      subscriptions.push(await bus.subscribe(scope, topic, print));
    }
  }
  return subscriptions;
}

export const eventsCommand: Command = {
  name: 'events',
  summary: 'watch the event plane: `dhw events tail` prints KV events and load as JSON lines',
  async run(argv) {
    const [sub, ...rest] = argv;
    if (!sub || sub === '--help' || sub === '-h') {
      console.log(formatHelp(USAGE, DESCRIPTION, FLAGS));
      return 0;
    }
    if (sub !== 'tail') throw new UsageError(`unknown subcommand "events ${sub}"; available: tail`);
    const parsed = beginCommand(rest, { usage: USAGE, description: DESCRIPTION, flags: FLAGS });
    if (!parsed) return 0;
    const { values } = parsed;
    const topics = topicsFlag(stringFlag(values, 'topic'));
    const scope = {
      namespace: stringFlag(values, 'namespace') ?? 'dynamo',
      component: stringFlag(values, 'component') ?? 'backend',
    };
    const stopped = untilStopped();
    const cluster = clusterFromFlags(values);
    const bus = await createEventBus({
      backend: 'nats',
      ...clusterEvents(stringFlag(values, 'nats-server'), cluster),
    });
    try {
      await follow(bus, scope, topics, values['from-start'] === true);
      await stopped;
    } finally {
      await bus.close();
    }
    return 0;
  },
};
