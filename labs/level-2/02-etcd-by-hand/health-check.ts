/**
 * An etcd health check, like a load balancer's probe: is the port open, does etcd have a leader, which
 * version is it, how many keys are registered under /dynamo/, and how long did it take. Uses only etcd's
 * HTTP endpoints (`/health`, `/version`, the `/v3/kv/range` JSON gateway), so it needs no client library.
 *
 * Standalone:  node --import tsx labs/level-2/02-etcd-by-hand/health-check.ts [http://127.0.0.1:2379]
 *              exits 0 when healthy, 1 otherwise (usable from a shell script or a container HEALTHCHECK).
 */
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

export interface EtcdHealth {
  endpoint: string;
  healthy: boolean;
  /** etcd server version, e.g. "3.4.23". */
  version?: string;
  /** Keys under /dynamo/ (the registry), counted by etcd without sending them. */
  dynamoKeys?: number;
  latencyMs: number;
  /** What is wrong and what to check, when not healthy. */
  problem?: string;
}

const b64 = (text: string) => Buffer.from(text).toString('base64');

async function getJson(url: string, timeoutMs: number, body?: unknown): Promise<Record<string, unknown>> {
  const res = await fetch(url, {
    method: body === undefined ? 'GET' : 'POST',
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(timeoutMs),
  });
  if (!res.ok) throw new Error(`${url} answered HTTP ${res.status}`);
  return (await res.json()) as Record<string, unknown>;
}

function explain(endpoint: string, err: unknown): string {
  const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).name;
  const port = new URL(endpoint).port;
  if (cause === 'ECONNREFUSED')
    return `connection refused: nothing listens on ${endpoint}. Is etcd running? \`ss -tlnp | grep ${port}\``;
  if (cause === 'TimeoutError')
    return `no answer within the timeout: etcd stalled or a firewall drops packets (\`curl -v ${endpoint}/health\`)`;
  const detail = (err as { cause?: { message?: string } }).cause?.message;
  return `${(err as Error).message}${detail ? `: ${detail}` : ''} (${cause})`;
}

/** Probe one etcd endpoint (http://host:port). Never throws: problems are reported in the result. */
export async function checkEtcdHealth(endpoint: string, timeoutMs = 1000): Promise<EtcdHealth> {
  const started = performance.now();
  const done = (fields: Partial<EtcdHealth>): EtcdHealth => ({
    endpoint,
    healthy: false,
    latencyMs: performance.now() - started,
    ...fields,
  });
  try {
    const health = await getJson(`${endpoint}/health`, timeoutMs);
    if (health.health !== 'true') {
      return done({
        problem: `etcd answers but reports health=${String(health.health)}: no leader (quorum lost?)`,
      });
    }
    const version = await getJson(`${endpoint}/version`, timeoutMs);
    // Range over [/dynamo/, /dynamo0): '0' is the byte after '/', so this is "every key starting /dynamo/".
    const range = await getJson(`${endpoint}/v3/kv/range`, timeoutMs, {
      key: b64('/dynamo/'),
      range_end: b64('/dynamo0'),
      count_only: true,
    });
    return done({
      healthy: true,
      version: String(version.etcdserver),
      dynamoKeys: Number(range.count ?? 0),
    });
  } catch (err) {
    return done({ problem: explain(endpoint, err) });
  }
}

export function formatHealth(h: EtcdHealth): string {
  return h.healthy
    ? `etcd ${h.endpoint}: healthy, version ${h.version}, ${h.dynamoKeys} keys under /dynamo/, ${h.latencyMs.toFixed(1)} ms`
    : `etcd ${h.endpoint}: UNHEALTHY after ${h.latencyMs.toFixed(1)} ms: ${h.problem}`;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const endpoint = process.argv[2] ?? process.env.ETCD_ENDPOINTS?.split(',')[0] ?? 'http://127.0.0.1:2379';
  const health = await checkEtcdHealth(endpoint.replace(/\/+$/, ''));
  console.log(formatHealth(health));
  process.exitCode = health.healthy ? 0 : 1;
}
