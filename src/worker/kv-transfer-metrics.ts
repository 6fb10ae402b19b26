/**
 * The worker's KV-transfer metrics, on the same /metrics page as the rest of `dynamo_component_*`: how many
 * bytes moved each way, how pulls ended and how long they took, how often decode fell back to prefilling
 * locally and why, and what a prefill worker holds for decode workers that have not pulled yet. Like a
 * NIC's counters (bytes, errors, drops) next to the service's request counters.
 *
 *   dynamo_component_kv_transfer_bytes_total{...,direction}     counter  in: pulled into this worker's blocks
 *                                                                         out: served from them to peers
 *   dynamo_component_kv_transfer_total{...,outcome}              counter  pulls: ok | error
 *   dynamo_component_kv_transfer_duration_seconds{...}           histogram  successful pulls
 *   dynamo_component_kv_transfer_fallbacks_total{...,reason}     counter  pulls that ended in a local prefill
 *   dynamo_component_kv_transfer_held_blocks{...}                gauge    blocks held for pulls (prefill)
 *   dynamo_component_kv_transfer_held_requests{...}              gauge    requests holding them
 *   dynamo_component_kv_transfer_hold_expired_total{...}         counter  holds freed because nobody pulled
 *   dynamo_component_kv_transfer_pulls_total{...,transport}      counter  successful pulls by backend
 *                                                                         (tcp | unix | shm | memory | simulated)
 *   dynamo_component_kv_transfer_staged_blocks{...}              gauge    blocks in the shm mirror (prefill)
 *   dynamo_component_kv_transfer_staged_bytes_total{...,when}    counter  bytes the owner copied into /dev/shm:
 *                                                                         ahead (at hold) | on_read (unstaged)
 *   dynamo_component_kv_transfer_layer_pushes_total{...,outcome} counter  layer-wise WRITEs (prefill): ok | error;
 *                                                                         decode side: pulls_total{transport="push"}
 *
 * Fed from the engine's onKvTransfer events (every engine kind, simulated pulls included) and, for bytes
 * served, from the transfer agent's transport counters (only real bytes leave a worker).
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { WorkerMetricLabels } from './worker-metrics.ts';

const TRANSFER_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** What the scrape-time series read. */
export interface KvTransferMetricsSource {
  heldBlocks(): number;
  heldRequests(): number;
  /** Payload bytes the transfer agent served to peers so far (0 without an agent). */
  bytesServed(): number;
  /** Blocks staged into the shm mirror now (0 without shm). */
  stagedBlocks?(): number;
  /** Bytes the agent copied into /dev/shm so far, ahead of READs and during them. */
  stagedBytes?(): { ahead: number; onRead: number };
  /** Layer-wise WRITEs made so far (prefill side), by outcome. */
  layerPushes?(): { ok: number; error: number };
}

type LabelName = keyof WorkerMetricLabels;

export class KvTransferMetrics {
  private readonly bytes: Counter<LabelName | 'direction'>;
  private readonly transfers: Counter<LabelName | 'outcome'>;
  private readonly duration: Histogram<LabelName>;
  private readonly fallbacks: Counter<LabelName | 'reason'>;
  private readonly expired: Counter<LabelName>;
  private readonly byTransport: Counter<LabelName | 'transport'>;

  constructor(
    registry: Registry,
    private readonly labels: WorkerMetricLabels,
    source: KvTransferMetricsSource,
  ) {
    const registers = [registry];
    const labelNames = Object.keys(labels) as LabelName[];
    let servedSeen = 0;
    this.bytes = new Counter({
      name: 'dynamo_component_kv_transfer_bytes_total',
      help: 'KV bytes moved between workers: in = pulled into our blocks, out = served from ours',
      labelNames: [...labelNames, 'direction'],
      registers,
      collect() {
        // The agent counts what its transports served; add what is new since the last scrape.
        const served = source.bytesServed();
        if (served > servedSeen) this.inc({ ...labels, direction: 'out' }, served - servedSeen);
        servedSeen = Math.max(servedSeen, served);
      },
    });
    this.transfers = new Counter({
      name: 'dynamo_component_kv_transfer_total',
      help: 'KV pulls from prefill workers, by outcome (error: the prompt was prefilled locally)',
      labelNames: [...labelNames, 'outcome'],
      registers,
    });
    this.duration = new Histogram({
      name: 'dynamo_component_kv_transfer_duration_seconds',
      help: 'Time of a successful KV pull, from the request on the data connection to the last byte',
      labelNames,
      buckets: TRANSFER_BUCKETS,
      registers,
    });
    this.fallbacks = new Counter({
      name: 'dynamo_component_kv_transfer_fallbacks_total',
      help: 'KV pulls that failed, so the decode worker prefilled the prompt itself, by reason',
      labelNames: [...labelNames, 'reason'],
      registers,
    });
    this.expired = new Counter({
      name: 'dynamo_component_kv_transfer_hold_expired_total',
      help: 'Prefills whose held KV blocks were freed because no decode worker pulled them in time',
      labelNames,
      registers,
    });
    this.byTransport = new Counter({
      name: 'dynamo_component_kv_transfer_pulls_total',
      help: 'Successful KV pulls by the backend that carried them (tcp, unix, shm, memory, simulated)',
      labelNames: [...labelNames, 'transport'],
      registers,
    });
    const staged = { ahead: 0, on_read: 0 };
    new Counter({
      name: 'dynamo_component_kv_transfer_staged_bytes_total',
      help: 'KV bytes a prefill worker copied into its /dev/shm mirror: ahead (at hold) or on_read (unstaged)',
      labelNames: [...labelNames, 'when'],
      registers,
      collect() {
        const now = source.stagedBytes?.() ?? { ahead: 0, onRead: 0 };
        for (const [when, total] of [
          ['ahead', now.ahead],
          ['on_read', now.onRead],
        ] as const) {
          this.inc({ ...labels, when }, Math.max(0, total - staged[when]));
          staged[when] = Math.max(staged[when], total);
        }
      },
    });
    const pushes = { ok: 0, error: 0 };
    new Counter({
      name: 'dynamo_component_kv_transfer_layer_pushes_total',
      help: 'Layer-wise KV WRITEs a prefill worker made to decode workers (one per layer per request), by outcome',
      labelNames: [...labelNames, 'outcome'],
      registers,
      collect() {
        const now = source.layerPushes?.() ?? { ok: 0, error: 0 };
        for (const outcome of ['ok', 'error'] as const) {
          this.inc({ ...labels, outcome }, Math.max(0, now[outcome] - pushes[outcome]));
          pushes[outcome] = Math.max(pushes[outcome], now[outcome]);
        }
      },
    });
    const gauge = (name: string, help: string, read: () => number) =>
      new Gauge({
        name,
        help,
        labelNames,
        registers,
        collect() {
          this.set(labels, read());
        },
      });
    gauge('dynamo_component_kv_transfer_held_blocks', 'KV blocks a prefill worker holds for pulls', () =>
      source.heldBlocks(),
    );
    gauge('dynamo_component_kv_transfer_held_requests', 'Finished prefills waiting for their pull', () =>
      source.heldRequests(),
    );
    gauge(
      'dynamo_component_kv_transfer_staged_blocks',
      'KV blocks staged into the shm mirror for pulls',
      () => (source.stagedBlocks ? source.stagedBlocks() : 0),
    );
    // Series present from the first scrape, so rates and dashboards need no "absent" special case.
    for (const direction of ['in', 'out']) this.bytes.inc({ ...labels, direction }, 0);
    for (const outcome of ['ok', 'error']) this.transfers.inc({ ...labels, outcome }, 0);
    this.expired.inc(labels, 0);
  }

  /** A pull finished: `bytes` landed in our blocks in `ms`. */
  pulled(bytes: number, ms: number, transport = 'unknown'): void {
    this.bytes.inc({ ...this.labels, direction: 'in' }, bytes);
    this.byTransport.inc({ ...this.labels, transport });
    this.transfers.inc({ ...this.labels, outcome: 'ok' });
    this.duration.observe(this.labels, ms / 1000);
  }

  /** A pull failed and the prompt was prefilled locally. */
  fellBack(reason: string): void {
    this.transfers.inc({ ...this.labels, outcome: 'error' });
    this.fallbacks.inc({ ...this.labels, reason });
  }

  holdExpired(): void {
    this.expired.inc(this.labels);
  }
}
