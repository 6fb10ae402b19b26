/**
 * Prometheus metrics for GET /metrics, Dynamo's names (docs/design-notes.md#frontend-metrics), so dashboards
 * built for Dynamo read ours. Like nginx's VTS module: per-request counters and latency histograms,
 * scraped as text. Each server owns its own registry (no global state), so tests can run several.
 * The `model` label is known once the request body is parsed; a request rejected before that is counted
 * under model="unknown" (and never in the in-flight gauge).
 *
 *   dynamo_frontend_requests_total{model,endpoint,request_type,status}   counter
 *   dynamo_frontend_inflight_requests{model}                             gauge
 *   dynamo_frontend_time_to_first_token_seconds{model}                   histogram (request start → first token)
 *   dynamo_frontend_inter_token_latency_seconds{model}                   histogram (every gap between tokens of a
 *                                                                          streaming request: a non-streaming one's
 *                                                                          tokens after the first arrive batched)
 *   dynamo_frontend_request_duration_seconds{model}                      histogram
 *   dynamo_frontend_input_sequence_tokens{model}                         histogram (prompt tokens)
 *   dynamo_frontend_output_sequence_tokens{model}                        histogram (generated tokens)
 *   dynamo_frontend_kv_hit_rate{model}                                   gauge (cached / prompt tokens, cumulative)
 *   dynamo_frontend_disagg_decisions_total{model,reason}                 counter (remote | no_prefill_workers |
 *                                                                          short_uncached_prompt | prefill_queue_full)
 *   dynamo_frontend_remote_prefill_failures_total{model,reason}          counter (connect | unavailable |
 *                                                                          disconnected | malformed | no_prefill_worker | error)
 *   dynamo_frontend_queued_requests{model}                               gauge (waiting in the admission queue)
 *   dynamo_frontend_router_queued_requests{model}                        gauge (waiting in the router queue,
 *                                                                          --router-queue-threshold)
 *   dynamo_frontend_rejected_requests_total{model,reason}                counter (queue_full | busy)
 *
 * The two disaggregation counters are fed by the RoutedEngines (one per model), which share this object
 * with the HTTP server (startFrontend creates it and hands it to both).
 *
 * The per-request counters and gauges (requests, in flight, kv hit rate) are counted in plain fields and handed
 * to prom-client at scrape time (`collect`): a labelled prom-client update hashes its labels on every call.
 */
import type { RouteResult } from '../router/index.ts';
import { RecentActivity } from './dashboard/recent-activity.ts';
import { performance } from 'node:perf_hooks';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
const TOKEN_BUCKETS = [1, 4, 16, 64, 256, 1024, 4096, 16384, 65536];

export type RequestStatus = 'success' | 'error' | 'cancelled';

type RequestLabels = { model: string; endpoint: string; request_type: string; status: RequestStatus };

export class FrontendMetrics {
  readonly registry = new Registry();
  /** requests_total by its label values joined with NUL: the labels and the count. */
  private readonly requestCounts = new Map<string, { labels: RequestLabels; n: number }>();
  /** In-flight requests per model. */
  private readonly inflightByModel = new Map<string, number>();
  private readonly ttft: Histogram<'model'>;
  private readonly itl: Histogram<'model'>;
  private readonly duration: Histogram<'model'>;
  private readonly inputTokens: Histogram<'model'>;
  private readonly outputTokens: Histogram<'model'>;
  private readonly disaggDecisions: Counter<'model' | 'reason'>;
  private readonly remotePrefillFailures: Counter<'model' | 'reason'>;
  private readonly queued: Gauge<'model'>;
  private readonly routerQueued: Gauge<'model'>;
  private readonly rejected: Counter<'model' | 'reason'>;
  private readonly migrations: Counter<'model'>;
  /** The last minutes, decisions and per-worker hit rates, for GET /dashboard (not Prometheus). */
  readonly activity = new RecentActivity();
  /** Per model: prompt and cached tokens since start (the kv hit rate's numerator and denominator). */
  private readonly tokensSeen = new Map<string, { prompt: number; cached: number }>();

  constructor() {
    const registers = [this.registry];
    const labelNames = ['model'] as const;
    const metrics = this;
    new Counter({
      name: 'dynamo_frontend_requests_total',
      help: 'Generation requests by endpoint, streaming or not, and how they ended',
      labelNames: ['model', 'endpoint', 'request_type', 'status'],
      registers,
      collect() {
        this.reset();
        for (const { labels, n } of metrics.requestCounts.values()) this.inc(labels, n);
      },
    });
    new Gauge({
      name: 'dynamo_frontend_inflight_requests',
      help: 'Generation requests in progress',
      labelNames,
      registers,
      collect() {
        for (const [model, n] of metrics.inflightByModel) this.set({ model }, n);
      },
    });
    const histogram = (name: string, help: string, buckets: number[]) =>
      new Histogram({ name, help, labelNames, buckets, registers });
    this.ttft = histogram(
      'dynamo_frontend_time_to_first_token_seconds',
      'Time from request arrival to the first generated token',
      LATENCY_BUCKETS,
    );
    this.itl = histogram(
      'dynamo_frontend_inter_token_latency_seconds',
      'Every gap between consecutive generated tokens',
      LATENCY_BUCKETS,
    );
    this.duration = histogram(
      'dynamo_frontend_request_duration_seconds',
      'Time from request arrival to the end of the response',
      LATENCY_BUCKETS,
    );
    this.inputTokens = histogram(
      'dynamo_frontend_input_sequence_tokens',
      'Prompt length in tokens',
      TOKEN_BUCKETS,
    );
    this.outputTokens = histogram(
      'dynamo_frontend_output_sequence_tokens',
      'Generated tokens per request',
      TOKEN_BUCKETS,
    );
    new Gauge({
      name: 'dynamo_frontend_kv_hit_rate',
      help: 'Fraction of prompt tokens served from a worker prefix cache, since start',
      labelNames,
      registers,
      collect() {
        for (const [model, seen] of metrics.tokensSeen) {
          if (seen.prompt > 0) this.set({ model }, seen.cached / seen.prompt);
        }
      },
    });
    this.disaggDecisions = new Counter({
      name: 'dynamo_frontend_disagg_decisions_total',
      help: 'Disaggregation decisions: reason "remote" = prefilled on a prefill worker, any other = locally on the decode worker',
      labelNames: ['model', 'reason'],
      registers,
    });
    this.migrations = new Counter({
      name: 'dynamo_frontend_migrations_total',
      help: 'Requests moved to another worker after theirs died mid-stream (--migration-limit)',
      labelNames,
      registers,
    });
    this.remotePrefillFailures = new Counter({
      name: 'dynamo_frontend_remote_prefill_failures_total',
      help: 'Remote prefills that failed at the frontend; each request was then prefilled locally on its decode worker',
      labelNames: ['model', 'reason'],
      registers,
    });
    this.queued = new Gauge({
      name: 'dynamo_frontend_queued_requests',
      help: 'Requests waiting in the model admission queue while every worker is busy',
      labelNames,
      registers,
    });
    this.routerQueued = new Gauge({
      name: 'dynamo_frontend_router_queued_requests',
      help: 'Requests waiting in the router queue while every worker has a prefill backlog (--router-queue-threshold)',
      labelNames,
      registers,
    });
    this.rejected = new Counter({
      name: 'dynamo_frontend_rejected_requests_total',
      help: 'Requests refused by admission control: queue_full (429) or busy (503, no queue)',
      labelNames: ['model', 'reason'],
      registers,
    });
  }

  /** The model's admission queue holds `depth` requests now. */
  setQueued(model: string, depth: number): void {
    this.queued.set({ model }, depth);
  }

  /** The model's router queue holds `depth` requests now. */
  setRouterQueued(model: string, depth: number): void {
    this.routerQueued.set({ model }, depth);
  }

  /** Admission control refused a request (`queue_full` → 429, `busy` → 503). */
  admissionRejected(model: string, reason: 'queue_full' | 'busy'): void {
    this.rejected.inc({ model, reason });
  }

  /** One request's disaggregation decision (disagg-policy.ts's reason). */
  disaggDecision(model: string, reason: string): void {
    this.disaggDecisions.inc({ model, reason });
  }

  /** A remote prefill failed and its request fell back to local prefill. */
  remotePrefillFailure(model: string, reason: string): void {
    this.remotePrefillFailures.inc({ model, reason });
  }

  /** A request was routed (the dashboard keeps the last decisions with their cost arithmetic). */
  routed(model: string, requestId: string, route: RouteResult, promptTokens: number): void {
    this.activity.routed(model, requestId, route, promptTokens);
  }

  /** A request finished on a worker: its prompt length and what that worker's prefix cache served. */
  served(workerId: string, promptTokens: number, cachedTokens: number): void {
    this.activity.served(workerId, promptTokens, cachedTokens);
  }

  /** A request's worker died mid-stream and the request moved to another. */
  migrated(model: string): void {
    this.migrations.inc({ model });
    this.activity.migrated();
  }

  /** Start observing one generation request. */
  begin(endpoint: string): RequestObservation {
    return new RequestObservation(this, endpoint);
  }

  /** A model became known (server start, or discovered): its gauges read 0 rather than being absent. */
  declareModel(model: string): void {
    this.inflightByModel.set(model, this.inflightByModel.get(model) ?? 0);
    this.migrations.inc({ model }, 0);
  }

  /** The Prometheus text exposition format. */
  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }

  /** @internal called by RequestObservation */
  record(o: RequestObservation, status: RequestStatus, seconds: number): void {
    const model = o.model ?? 'unknown';
    if (o.model !== undefined) this.inflightByModel.set(model, (this.inflightByModel.get(model) ?? 1) - 1);
    const requestType = o.stream ? 'stream' : 'unary';
    const key = `${model}\u0000${o.endpoint}\u0000${requestType}\u0000${status}`;
    const count = this.requestCounts.get(key);
    if (count) count.n++;
    else
      this.requestCounts.set(key, {
        labels: { model, endpoint: o.endpoint, request_type: requestType, status },
        n: 1,
      });
    this.duration.observe({ model }, seconds);
    this.activity.requestEnded(status === 'error');
    if (o.usage) {
      this.inputTokens.observe({ model }, o.usage.promptTokens);
      this.outputTokens.observe({ model }, o.usage.completionTokens);
      const seen = this.tokensSeen.get(model) ?? { prompt: 0, cached: 0 };
      seen.prompt += o.usage.promptTokens;
      seen.cached += o.usage.cachedTokens;
      this.tokensSeen.set(model, seen);
    }
  }

  /** @internal */
  recordToken(model: string, first: boolean, seconds: number): void {
    (first ? this.ttft : this.itl).observe({ model }, seconds);
    this.activity.token(first, seconds * 1000);
  }

  /** @internal */
  recordModel(model: string): void {
    this.inflightByModel.set(model, (this.inflightByModel.get(model) ?? 0) + 1);
  }
}

/** One request's timing, fed as its tokens arrive. */
export class RequestObservation {
  private readonly startedAt = performance.now();
  private lastTokenAt: number | undefined;
  private ended = false;
  /** Set once the request names a served model. */
  model: string | undefined;
  stream = false;
  usage: { promptTokens: number; completionTokens: number; cachedTokens: number } | undefined;

  constructor(
    private readonly metrics: FrontendMetrics,
    readonly endpoint: string,
  ) {}

  /** The request's model is known: from now on it counts as in flight for that model. */
  setModel(model: string): void {
    if (this.model !== undefined || this.ended) return;
    this.model = model;
    this.metrics.recordModel(model);
  }

  /**
   * A token came back from the engine: the first one is TTFT, later ones are inter-token gaps, for streaming
   * requests only: a non-streaming request's tokens after the first travel batched (the request plane's
   * DATA_BATCH), so their arrival gaps are not the engine's.
   */
  token(): void {
    const now = performance.now();
    const first = this.lastTokenAt === undefined;
    if (!first && !this.stream) return;
    const model = this.model ?? 'unknown';
    this.metrics.recordToken(model, first, (now - (this.lastTokenAt ?? this.startedAt)) / 1000);
    this.lastTokenAt = now;
  }

  end(status: RequestStatus): void {
    if (this.ended) return;
    this.ended = true;
    this.metrics.record(this, status, (performance.now() - this.startedAt) / 1000);
  }
}
