/**
 * bench:frontend's rows and how they are printed: the latency table, the throughput table (with the engine's
 * steps and KV events per request) and the JSON line.
 */
import { round, type Summary } from '../../src/util/stats.ts';
import { fmt, markdownTable } from '../../src/util/table.ts';

export interface FrontendBenchConfig {
  requests: number;
  latencyRequests: number;
  workers: number;
  concurrency: number[];
  promptTokens: number;
  maxTokens: number;
}

export type PathName = 'engine' | 'request plane' | 'HTTP frontend';

export interface LatencyRow {
  path: PathName;
  summary: Summary;
}

export interface ThroughputRow {
  concurrency: number;
  requests: number;
  reqPerSec: number;
  /** This process's CPU time (user + system) per request: what the stack costs, whatever the neighbours do. */
  cpuMsPerRequest: number;
  /** Engine steps (both workers) per request, and sequences per step: how finely a zero-delay engine steps. */
  stepsPerRequest: number;
  seqsPerStep: number;
  /** KV cache events the workers emitted per request (each one a publish on the event plane). */
  kvEventsPerRequest: number;
  summary: Summary;
}

export function printReport(
  config: FrontendBenchConfig,
  latency: LatencyRow[],
  throughput: ThroughputRow[],
): void {
  const p50 = (path: PathName) => latency.find((r) => r.path === path)!.summary.p50;
  console.log('## Frontend overhead: one request at a time, same zero-delay mocker worker\n');
  console.log(
    markdownTable(
      [
        { header: 'path', align: 'left' },
        { header: 'requests' },
        { header: 'p50 ms' },
        { header: 'p90 ms' },
        { header: 'p99 ms' },
        { header: 'mean ms' },
      ],
      latency.map(({ path, summary: s }) => [
        path,
        String(s.count),
        fmt(s.p50, 3),
        fmt(s.p90, 3),
        fmt(s.p99, 3),
        fmt(s.mean, 3),
      ]),
    ),
  );
  const overhead = p50('HTTP frontend') - p50('request plane');
  console.log(
    `\nfrontend overhead p50: ${fmt(overhead, 3)} ms (HTTP frontend − request plane); goal ≤ 1 ms: ` +
      `${overhead <= 1 ? 'met' : 'NOT met'}`,
  );
  console.log(
    `request-plane overhead p50: ${fmt(p50('request plane') - p50('engine'), 3)} ms (request plane − engine)`,
  );
  console.log(`\n## Throughput through the frontend: ${config.workers} zero-delay mocker worker(s)\n`);
  console.log(
    markdownTable(
      [
        { header: 'concurrency' },
        { header: 'requests' },
        { header: 'req/s' },
        { header: 'CPU ms/req' },
        { header: 'req per CPU-second' },
        { header: 'engine steps/req' },
        { header: 'seqs/step' },
        { header: 'KV events/req' },
        { header: 'p50 ms' },
        { header: 'p99 ms' },
      ],
      throughput.map((r) => [
        String(r.concurrency),
        String(r.requests),
        fmt(r.reqPerSec, 0),
        fmt(r.cpuMsPerRequest, 3),
        fmt(1000 / r.cpuMsPerRequest, 0),
        fmt(r.stepsPerRequest, 2),
        fmt(r.seqsPerStep, 1),
        fmt(r.kvEventsPerRequest, 2),
        fmt(r.summary.p50, 3),
        fmt(r.summary.p99, 3),
      ]),
    ),
  );
}

export function jsonReport(
  config: FrontendBenchConfig,
  smoke: boolean,
  latency: LatencyRow[],
  throughput: ThroughputRow[],
  machine: unknown,
): string {
  const p50 = (path: PathName) => latency.find((r) => r.path === path)!.summary.p50;
  const ms = (s: Summary) => ({
    count: s.count,
    p50Ms: round(s.p50, 4),
    p90Ms: round(s.p90, 4),
    p99Ms: round(s.p99, 4),
    meanMs: round(s.mean, 4),
  });
  return JSON.stringify({
    bench: 'frontend',
    machine,
    config: { ...config, smoke },
    latency: latency.map((r) => ({ path: r.path, ...ms(r.summary) })),
    frontendOverheadP50Ms: round(p50('HTTP frontend') - p50('request plane'), 4),
    requestPlaneOverheadP50Ms: round(p50('request plane') - p50('engine'), 4),
    throughput: throughput.map((r) => ({
      concurrency: r.concurrency,
      requests: r.requests,
      reqPerSec: round(r.reqPerSec, 1),
      cpuMsPerRequest: round(r.cpuMsPerRequest, 4),
      reqPerCpuSecond: round(1000 / r.cpuMsPerRequest, 0),
      stepsPerRequest: round(r.stepsPerRequest, 3),
      seqsPerStep: round(r.seqsPerStep, 2),
      kvEventsPerRequest: round(r.kvEventsPerRequest, 3),
      p50Ms: round(r.summary.p50, 4),
      p99Ms: round(r.summary.p99, 4),
    })),
  });
}
