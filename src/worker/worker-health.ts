/**
 * What a worker says about itself on /health, like a service's readiness probe: ready only when it is
 * registered, not draining, and its last canary produced a token. The status server answers from the
 * moment its port is open (while the worker is still starting), so health is built from the worker's
 * parts and a `WorkerPhase` that exists before them, never from the Worker object itself.
 */
import type { InstanceId } from '../protocols/discovery.ts';
import type { EndpointId } from '../runtime/names.ts';
import type { Canary, CanaryResult } from './canary.ts';
import type { WorkerMetrics } from './worker-metrics.ts';

/** `unregistered`: the discovery lease was lost; in-flight requests go on while the worker re-registers. */
export type WorkerState = 'starting' | 'ready' | 'unregistered' | 'draining' | 'stopped';

export interface WorkerHealth {
  /** Registered, not draining, and the last canary produced a token. */
  ready: boolean;
  state: WorkerState;
  instanceId: InstanceId;
  namespace: string;
  component: string;
  endpoint: string;
  model: string;
  address: string;
  inflightRequests: number;
  uptimeSeconds: number;
  canary?: CanaryResult;
}

/** The worker's lifecycle state: moved by the Worker, read by /health. */
export class WorkerPhase {
  state: WorkerState = 'starting';
  readonly startedAt = Date.now();
}

export interface HealthSources {
  phase: WorkerPhase;
  instanceId: InstanceId;
  endpointId: EndpointId;
  /** The served model name (the model card's displayName). */
  model: string;
  /** Request-plane address ("host:port"). */
  address: string;
  canary: Canary;
  metrics: WorkerMetrics;
}

export function describeHealth(s: HealthSources): WorkerHealth {
  const canary = s.canary.last;
  return {
    ready: s.phase.state === 'ready' && canary?.ok === true,
    state: s.phase.state,
    instanceId: s.instanceId,
    namespace: s.endpointId.namespace,
    component: s.endpointId.component,
    endpoint: s.endpointId.endpoint,
    model: s.model,
    address: s.address,
    inflightRequests: s.metrics.inflightRequests,
    uptimeSeconds: Math.round((Date.now() - s.phase.startedAt) / 1000),
    canary,
  };
}
