/**
 * The failure half of Lab 3.3: a worker dies in the middle of a streamed reply. Two `dhw worker` processes
 * (mocker, real time) behind a frontend with `--migration-limit 3`; we stream a long reply, `kill -9` the
 * worker producing it, and keep reading. The frontend sees the request-plane stream break without its final
 * frame, re-routes the request to the other worker with the prompt plus the tokens already sent, and the
 * client gets one unbroken stream. Then discovery catches up: after the lease TTL the dead worker leaves
 * the frontend's /health. Like a proxy's `proxy_next_upstream` for a request that had already started.
 */
import { performance } from 'node:perf_hooks';
import { startFrontend } from '../../../src/frontend/index.ts';
import type { EtcdServer } from '../../../src/infra/local-servers.ts';
import { type LogCapture, shorten } from '../../lib/log-capture.ts';
import { spawnWorker, type WorkerProcess, workerCommandLine } from '../../lib/worker-process.ts';
import { note } from '../../lib/lab-kit.ts';
import { sseJsonPerRead } from '../../lib/sse.ts';

const NAMESPACE = 'migration';
const LEASE_TTL = 2;

export interface MigrationResult {
  /** `usage.completion_tokens` of the final chunk. */
  tokensReceived: number;
  /** SSE chunks with text (fewer than tokens when the detokenizer holds back a partial word). */
  chunksReceived: number;
  maxTokens: number;
  /** The longest gap between two tokens: where the migration happened. */
  worstGapMs: number;
  /** Median gap between tokens, for comparison. */
  medianGapMs: number;
  /** kill -9 → the dead worker gone from the frontend's /health. */
  healthDropMs: number;
}

async function healthInstances(url: string): Promise<number> {
  const body = (await (await fetch(`${url}/health`)).json()) as { instances: unknown[] };
  return body.instances.length;
}

export async function demonstrateMigration(
  etcd: EtcdServer,
  logs: LogCapture,
  maxTokens: number,
): Promise<MigrationResult> {
  const args = [
    '--engine',
    'mocker',
    '--speedup-ratio',
    '1',
    '--namespace',
    NAMESPACE,
    '--discovery',
    'etcd',
    '--etcd-endpoints',
    etcd.endpoint,
    '--lease-ttl',
    String(LEASE_TTL),
    '--events',
    'memory',
    '--canary-interval',
    '0',
    '--log-level',
    'warn',
  ];
  note(`$ ${workerCommandLine(args)} &   (twice)`);
  const workers = await Promise.all([spawnWorker(args), spawnWorker(args)]);
  const frontend = await startFrontend({
    namespace: NAMESPACE,
    discovery: { backend: 'etcd', etcdEndpoints: etcd.endpoint },
    events: { backend: 'memory' },
    router: { router: 'round-robin' },
    migrationLimit: 3,
    host: '127.0.0.1',
    port: 0,
    drainTimeoutMs: 1000,
  });
  try {
    while (frontend.models.instances().length < 2) await new Promise((resolve) => setTimeout(resolve, 10));
    note(`frontend (--migration-limit 3) sees ${await healthInstances(frontend.url)} workers in /health`);
    return await streamThroughACrash(frontend.url, workers, logs, maxTokens);
  } finally {
    await frontend.close();
    await Promise.all(workers.map((w) => w.stop()));
  }
}

async function streamThroughACrash(
  url: string,
  workers: WorkerProcess[],
  logs: LogCapture,
  maxTokens: number,
): Promise<MigrationResult> {
  const requestId = `lab-3-3-migrate-${process.pid}`;
  const from = logs.mark();
  const res = await fetch(`${url}/v1/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-request-id': requestId },
    body: JSON.stringify({
      prompt: 'Tell me a very long story.',
      max_tokens: maxTokens,
      ignore_eos: true,
      stream: true,
      stream_options: { include_usage: true },
    }),
  });
  const arrivals: number[] = [];
  let completionTokens = 0;
  let killedAt = 0;
  type Chunk = { choices: { text: string }[]; usage?: { completion_tokens: number }; error?: unknown };
  for await (const chunks of sseJsonPerRead<Chunk>(res.body)) {
    for (const data of chunks) {
      if (data.error) throw new Error(`the stream failed: ${JSON.stringify(data.error)}`);
      if (data.choices.length > 0) arrivals.push(performance.now());
      if (data.usage) completionTokens = data.usage.completion_tokens;
    }
    if (killedAt === 0 && arrivals.length >= 20) {
      const served = /workerId=([0-9a-f]+)/.exec(
        logs.grep(new RegExp(`routed requestId=${requestId}`), from)[0] ?? '',
      )?.[1];
      const victim = workers.find((w) => w.instanceId === served);
      if (!victim) throw new Error(`could not tell which worker serves ${requestId}`);
      note(
        `after ${arrivals.length} chunks: kill -9 ${victim.pid} (worker ${victim.instanceId}, the one streaming this reply)`,
      );
      killedAt = performance.now();
      victim.kill9();
    }
  }
  for (const line of logs.grep(/migrating request/, from)) note(`  ${shorten(line, 260)}`);
  const gaps = arrivals.slice(1).map((t, i) => t - arrivals[i]!);
  const sorted = [...gaps].sort((a, b) => a - b);
  while ((await healthInstances(url)) > 1 && performance.now() - killedAt < (LEASE_TTL + 5) * 1000) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return {
    tokensReceived: completionTokens,
    chunksReceived: arrivals.length,
    maxTokens,
    worstGapMs: sorted.at(-1) ?? 0,
    medianGapMs: sorted[Math.floor(sorted.length / 2)] ?? 0,
    healthDropMs: performance.now() - killedAt,
  };
}
