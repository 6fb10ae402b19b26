/**
 * The worker's request-plane endpoints, declared once for both sides: the worker serves these names
 * (worker/endpoints.ts) and the frontend and routers call them (frontend/routed-engine.ts, event-feed.ts).
 * Like a service's RPC definition: one name per method, with its request and its stream of responses.
 *
 *   endpoint      request              responses (a stream)
 *   generate      EngineRequest        EngineOutput, one per token; the last has finishReason
 *   kv_snapshot   KvSnapshotRequest    KvSnapshot chunks, all with the same lastEventId
 *   load          LoadRequest ({})     one LoadMetrics
 *
 * A refused call ends with a FINAL error whose code is a `RemoteErrorCode` (request-plane.ts).
 */
import type { EngineOutput, EngineRequest } from './engine.ts';
import type { LoadMetrics } from './kv-events.ts';
import type { KvSnapshot, KvSnapshotRequest } from './router.ts';

export const WorkerEndpoint = {
  Generate: 'generate',
  KvSnapshot: 'kv_snapshot',
  Load: 'load',
} as const;
export type WorkerEndpoint = (typeof WorkerEndpoint)[keyof typeof WorkerEndpoint];

/** The worker endpoint that generates tokens. */
export const GENERATE_ENDPOINT = WorkerEndpoint.Generate;
/** The worker endpoint that dumps its prefix cache (for a router that missed KV events). */
export const KV_SNAPSHOT_ENDPOINT = WorkerEndpoint.KvSnapshot;
/** The worker endpoint that reports its load now. */
export const LOAD_ENDPOINT = WorkerEndpoint.Load;

/** `load` takes no arguments; callers send an empty object. */
export type LoadRequest = Record<string, never>;

/** Request and response item of each endpoint, for typing both ends of a call. */
export interface WorkerEndpointTypes extends Record<WorkerEndpoint, { request: unknown; response: unknown }> {
  generate: { request: EngineRequest; response: EngineOutput };
  kv_snapshot: { request: KvSnapshotRequest; response: KvSnapshot };
  load: { request: LoadRequest; response: LoadMetrics };
}
