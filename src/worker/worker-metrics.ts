/**
 * Prometheus metrics of one worker for GET /metrics on its status port, with Dynamo's `dynamo_component_*`
 * names so dashboards built for Dynamo read ours. Like a backend's own /metrics beside the load balancer's:
 * request counts and latency of what it served, plus gauges read from the engine at scrape time.
 *
 *   dynamo_component_requests_total{...,status}                 counter  (generate calls: success|error|cancelled)
 *   dynamo_component_inflight_requests{...}                     gauge
 *   dynamo_component_request_duration_seconds{...}              histogram
 *   dynamo_component_request_queue_time_seconds{...}            histogram (in the engine's queue before its first step)
 *   dynamo_component_request_prefill_time_seconds{...}          histogram (first step → first token)
 *   dynamo_component_output_tokens_total{...}                   counter
 *   dynamo_component_kvstats_active_blocks{...}                 gauge    (blocks with refCnt > 0)
 *   dynamo_component_kvstats_total_blocks{...}                  gauge
 *   dynamo_component_kvstats_gpu_cache_usage_percent{...}       gauge    (0..1, vLLM's name)
 *   dynamo_component_kvstats_gpu_prefix_cache_hit_rate{...}     gauge    (cached / queried prompt tokens)
 *   dynamo_component_kv_events_published_total{...}             counter
 *   dynamo_component_canary_ok{...}, _canary_latency_seconds    gauges   (last health canary)
 * Every series carries dynamo_namespace, dynamo_component, dynamo_endpoint and worker_id labels.
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];

export type WorkerRequestStatus = 'success' | 'error' | 'cancelled';

/** What the scrape-time gauges read. */
export interface WorkerMetricsSource {
  kvActiveBlocks(): number;
  kvTotalBlocks(): number;
  /** Engine steps run since start (read at scrape time: nothing is counted per step). */
  engineSteps(): number;
  /** Cached / queried prompt tokens since start (0 before the first request). */
  prefixCacheHitRate(): number;
}

export interface WorkerMetricLabels {
  dynamo_namespace: string;
  dynamo_component: string;
  dynamo_endpoint: string;
  worker_id: string;
}

type LabelName = keyof WorkerMetricLabels;
const LABEL_NAMES: LabelName[] = ['dynamo_namespace', 'dynamo_component', 'dynamo_endpoint', 'worker_id'];

/** One generate call's timer (`WorkerMetrics.begin`). */
export interface RequestTimer {
  /** Its first output arrived, carrying the engine's queue time (`EngineOutput.queueMs`) when measured. */
  first(queueMs: number | undefined): void;
  /** It ended (once; later calls do nothing). */
  end(status: WorkerRequestStatus, outputTokens: number): void;
}

export class WorkerMetrics {
  readonly registry = new Registry();
  private readonly duration: Histogram<LabelName>;
  private readonly queueTime: Histogram<LabelName>;
  private readonly prefillTime: Histogram<LabelName>;
  // Counted in plain fields on the hot path and handed to prom-client at scrape time (collect): a labelled
  // prom-client update hashes its labels on every call, 3 % of a worker's CPU at a few thousand requests/s.
  private inflightCount = 0;
  private readonly requestsByStatus = new Map<WorkerRequestStatus, number>();
  private outputTokenCount = 0;
  private kvEventCount = 0;
  /** The last health canary, as reported by the canary (`canaryFinished`). */
  private lastCanary: { ok: boolean; latencyMs: number } | undefined;

  constructor(
    private readonly labels: WorkerMetricLabels,
    source: WorkerMetricsSource,
  ) {
    const registers = [this.registry];
    const labelNames = LABEL_NAMES;
    const metrics = this;
    new Counter({
      name: 'dynamo_component_requests_total',
      help: 'generate calls served, by how they ended',
      labelNames: [...labelNames, 'status'],
      registers,
      collect() {
        this.reset();
        for (const [status, n] of metrics.requestsByStatus) this.inc({ ...labels, status }, n);
      },
    });
    new Gauge({
      name: 'dynamo_component_inflight_requests',
      help: 'generate calls in progress',
      labelNames,
      registers,
      collect() {
        this.set(labels, metrics.inflightCount);
      },
    });
    this.duration = new Histogram({
      name: 'dynamo_component_request_duration_seconds',
      help: 'Time from a generate call arriving to its last token',
      labelNames,
      buckets: LATENCY_BUCKETS,
      registers,
    });
    // vLLM's vllm:request_queue_time_seconds and vllm:request_prefill_time_seconds: where a request's time to
    // first token went, waiting behind other prompts or in its own prefill steps.
    this.queueTime = new Histogram({
      name: 'dynamo_component_request_queue_time_seconds',
      help: "Time a generate call waited in the engine's queue before a step first scheduled it",
      labelNames,
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.prefillTime = new Histogram({
      name: 'dynamo_component_request_prefill_time_seconds',
      help: 'Time from the first step that scheduled a generate call to its first token',
      labelNames,
      buckets: LATENCY_BUCKETS,
      registers,
    });
    const plainCounter = (name: string, help: string, read: () => number) =>
      new Counter({
        name,
        help,
        labelNames,
        registers,
        collect() {
          this.reset();
          this.inc(labels, read());
        },
      });
    plainCounter(
      'dynamo_component_output_tokens_total',
      'Tokens generated for callers',
      () => metrics.outputTokenCount,
    );
    plainCounter(
      'dynamo_component_kv_events_published_total',
      'KV cache events handed to the event plane',
      () => metrics.kvEventCount,
    );
    plainCounter(
      'dynamo_component_engine_steps_total',
      'Engine steps (iterations) run; output tokens / steps = sequences per step',
      () => source.engineSteps(),
    );
    const gauge = (name: string, help: string, read: () => number | undefined) =>
      new Gauge({
        name,
        help,
        labelNames,
        registers,
        collect() {
          const value = read();
          if (value !== undefined) this.set(labels, value);
        },
      });
    gauge('dynamo_component_kvstats_active_blocks', 'KV blocks held by running requests', () =>
      source.kvActiveBlocks(),
    );
    gauge('dynamo_component_kvstats_total_blocks', 'KV blocks in the pool', () => source.kvTotalBlocks());
    gauge('dynamo_component_kvstats_gpu_cache_usage_percent', 'Active / total KV blocks (0..1)', () => {
      const total = source.kvTotalBlocks();
      return total > 0 ? source.kvActiveBlocks() / total : 0;
    });
    gauge(
      'dynamo_component_kvstats_gpu_prefix_cache_hit_rate',
      'Prompt tokens served from the prefix cache / prompt tokens looked up, since start',
      () => source.prefixCacheHitRate(),
    );
    gauge('dynamo_component_canary_ok', '1 if the last health canary produced a token, else 0', () => {
      const c = this.lastCanary;
      return c === undefined ? undefined : c.ok ? 1 : 0;
    });
    gauge('dynamo_component_canary_latency_seconds', 'Latency of the last health canary', () => {
      const c = this.lastCanary;
      return c === undefined ? undefined : c.latencyMs / 1000;
    });
  }

  get inflightRequests(): number {
    return this.inflightCount;
  }

  /** A generate call started: the timer takes its first output and its end. */
  begin(): RequestTimer {
    const started = performance.now();
    this.inflightCount++;
    let ended = false;
    return {
      first: (queueMs) => {
        if (queueMs === undefined) return;
        const toFirstMs = performance.now() - started;
        this.queueTime.observe(this.labels, queueMs / 1000);
        this.prefillTime.observe(this.labels, Math.max(0, toFirstMs - queueMs) / 1000);
      },
      end: (status, outputTokens) => {
        if (ended) return;
        ended = true;
        this.inflightCount--;
        this.requestsByStatus.set(status, (this.requestsByStatus.get(status) ?? 0) + 1);
        this.duration.observe(this.labels, (performance.now() - started) / 1000);
        this.outputTokenCount += outputTokens;
      },
    };
  }

  /** A health canary finished: the canary gauges report it from the next scrape on. */
  canaryFinished(result: { ok: boolean; latencyMs: number }): void {
    this.lastCanary = result;
  }

  kvEventPublished(): void {
    this.kvEventCount++;
  }

  /** The Prometheus text exposition format. */
  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
