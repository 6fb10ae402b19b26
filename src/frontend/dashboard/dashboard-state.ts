/**
 * GET /dashboard/state: everything the dashboard page draws, as one JSON document (documented in the
 * frontend README, so scripts may poll it too). Built on demand from what the frontend already holds: the
 * router's pools (health, last load report per worker), the request counters, and the recent-activity
 * recorder (latency series, decisions, per-worker hit rates). Nothing here asks a worker anything.
 */
import type { RequestContext, ServerState } from '../request-context.ts';
import { sendJson } from '../request-context.ts';
import type { ActivityPoint, DecisionRecord } from './recent-activity.ts';

export interface DashboardWorker {
  id: string;
  model: string;
  address: string;
  role: 'aggregated' | 'prefill';
  health: 'ok' | 'busy' | 'quarantined';
  kv_used_blocks: number | null;
  kv_total_blocks: number | null;
  kv_usage: number | null;
  running: number | null;
  waiting: number | null;
  prefill_tokens: number | null;
  /** Requests this frontend finished on the worker, and the share of their prompts its prefix cache served. */
  requests: number;
  hit_rate: number | null;
}

export interface DashboardState {
  generated_at: number;
  uptime_s: number;
  models: string[];
  requests: ReturnType<ServerState['stats']['snapshot']>;
  migrations: number;
  workers: DashboardWorker[];
  bucket_ms: number;
  series: ActivityPoint[];
  decisions: readonly DecisionRecord[];
}

export function dashboardState(server: ServerState): DashboardState {
  const activity = server.metrics.activity;
  const statuses = server.models.workerStatuses?.() ?? [];
  return {
    generated_at: Date.now(),
    uptime_s: Math.round(Date.now() / 1000 - server.startedAt),
    models: server.models.list().map((m) => m.name),
    requests: server.stats.snapshot(),
    migrations: activity.migrations,
    workers: statuses.map((w) => {
      const tally = activity.workerTally(w.id);
      return {
        id: w.id,
        model: w.model,
        address: w.address,
        role: w.role,
        health: w.quarantined ? 'quarantined' : w.busy ? 'busy' : 'ok',
        kv_used_blocks: w.load?.kvUsedBlocks ?? null,
        kv_total_blocks: w.load?.kvTotalBlocks ?? null,
        kv_usage: w.load ? w.load.gpuCacheUsagePerc : null,
        running: w.load?.numRunning ?? null,
        waiting: w.load?.numWaiting ?? null,
        prefill_tokens: w.load?.activePrefillTokens ?? null,
        requests: tally?.requests ?? 0,
        hit_rate: tally && tally.promptTokens > 0 ? tally.cachedTokens / tally.promptTokens : null,
      };
    }),
    bucket_ms: activity.bucketMs,
    series: activity.series(),
    decisions: activity.recentDecisions(),
  };
}

export function handleDashboardState(server: ServerState, ctx: RequestContext): void {
  sendJson(ctx.res, 200, dashboardState(server), { 'cache-control': 'no-store' });
}
