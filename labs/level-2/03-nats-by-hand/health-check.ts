/**
 * A nats-server health check through its HTTP monitoring port, like a load balancer probe plus a peek at
 * the server's counters: `/healthz` (serving? JetStream ready?), `/varz` (version, connections, messages in
 * and out), `/jsz` (streams, stored messages and bytes). No client library needed: plain HTTP.
 *
 * Standalone:  node --import tsx labs/level-2/03-nats-by-hand/health-check.ts [http://127.0.0.1:8222]
 *              (the MONITOR url, `-m` port of nats-server); exits 0 when healthy, 1 otherwise.
 */
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

export interface NatsHealth {
  monitorUrl: string;
  healthy: boolean;
  version?: string;
  connections?: number;
  inMsgs?: number;
  outMsgs?: number;
  /** JetStream: streams, stored messages and bytes (undefined when JetStream is off). */
  jetstream?: { streams: number; messages: number; bytes: number };
  latencyMs: number;
  problem?: string;
}

async function getJson(url: string, timeoutMs: number): Promise<Record<string, unknown>> {
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  const body = (await res.json().catch(() => ({}))) as Record<string, unknown>;
  if (!res.ok) throw new Error(`${url} answered HTTP ${res.status}: ${JSON.stringify(body)}`);
  return body;
}

function explain(monitorUrl: string, err: unknown): string {
  const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).name;
  if (cause === 'ECONNREFUSED') {
    const port = new URL(monitorUrl).port;
    return (
      `connection refused on the monitoring port: is nats-server running with -m ${port}? ` +
      `\`ss -tlnp | grep nats\``
    );
  }
  if (cause === 'TimeoutError') return `no answer within the timeout (\`curl -v ${monitorUrl}/healthz\`)`;
  return `${(err as Error).message} (${cause})`;
}

/** Probe one nats-server's monitoring endpoint. Never throws: problems are reported in the result. */
export async function checkNatsHealth(monitorUrl: string, timeoutMs = 1000): Promise<NatsHealth> {
  const started = performance.now();
  const done = (fields: Partial<NatsHealth>): NatsHealth => ({
    monitorUrl,
    healthy: false,
    latencyMs: performance.now() - started,
    ...fields,
  });
  try {
    // /healthz answers 503 with an error when JetStream is enabled but not ready.
    const health = await getJson(`${monitorUrl}/healthz`, timeoutMs);
    if (health.status !== 'ok') return done({ problem: `healthz says ${JSON.stringify(health)}` });
    const varz = await getJson(`${monitorUrl}/varz`, timeoutMs);
    const jsz = await getJson(`${monitorUrl}/jsz`, timeoutMs).catch(() => undefined);
    return done({
      healthy: true,
      version: String(varz.version),
      connections: Number(varz.connections),
      inMsgs: Number(varz.in_msgs),
      outMsgs: Number(varz.out_msgs),
      jetstream:
        jsz && jsz.disabled !== true
          ? {
              streams: Number(jsz.streams ?? 0),
              messages: Number(jsz.messages ?? 0),
              bytes: Number(jsz.bytes ?? 0),
            }
          : undefined,
    });
  } catch (err) {
    return done({ problem: explain(monitorUrl, err) });
  }
}

export function formatNatsHealth(h: NatsHealth): string {
  if (!h.healthy) return `nats ${h.monitorUrl}: UNHEALTHY after ${h.latencyMs.toFixed(1)} ms: ${h.problem}`;
  const js = h.jetstream
    ? `JetStream ${h.jetstream.streams} streams / ${h.jetstream.messages} messages / ${h.jetstream.bytes} bytes`
    : 'JetStream off';
  return (
    `nats ${h.monitorUrl}: healthy, version ${h.version}, ${h.connections} connections, ` +
    `${h.inMsgs} msgs in / ${h.outMsgs} out, ${js}, ${h.latencyMs.toFixed(1)} ms`
  );
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const monitorUrl = (process.argv[2] ?? 'http://127.0.0.1:8222').replace(/\/+$/, '');
  const health = await checkNatsHealth(monitorUrl);
  console.log(formatNatsHealth(health));
  process.exitCode = health.healthy ? 0 : 1;
}
