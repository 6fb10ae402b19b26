/**
 * A pool of simulated workers (mockers) on the replay's virtual clock, wired to one router the way live
 * workers are wired to the frontend's: every KV event reaches the router as it happens (a zero-latency
 * event plane), and each worker's load after each of its steps. Aggregated replays have one pool; a
 * disaggregated replay has two (prefill and decode), each with its own router.
 */
import type { KvConnector } from '../engine/index.ts';
import { MockEngine } from '../mocker/index.ts';
import { asWorkerId, type WorkerId } from '../protocols/ids.ts';
import { MOCKER_STEP_TIMING, scaleStepTiming } from '../protocols/step-timing.ts';
import type { Router } from '../router/index.ts';
import type { VirtualTimeLoop } from './virtual-time-loop.ts';

/** A worker's role in the run: 'aggregated' prefills and decodes; the others as in `dhw worker --role`. */
export type SimRole = 'aggregated' | 'prefill' | 'decode';

export interface WorkerRecord {
  workerId: WorkerId;
  /** Requests this worker served (a prefill worker: remote prefills). */
  requests: number;
  preemptions: number;
  steps: number;
  /** Prompt tokens this worker computed (prefix-cache hits and transferred KV excluded). */
  prefillTokens: number;
  /** Set in disaggregated runs only. */
  role?: SimRole;
  /** Prefill workers: requests whose blocks were still held for a decode worker when the run ended (0). */
  heldAtEnd?: number;
}

export interface SimWorker {
  engine: MockEngine;
  record: WorkerRecord;
}

/** Engine settings every worker of a run shares (the resolved replay options carry them). */
export interface SimEngineSettings {
  blockSize: number;
  numKvBlocks: number;
  maxNumSeqs: number;
  maxNumBatchedTokens: number;
  contextLength: number;
  vocabSize: number;
  speedupRatio: number;
  kvBytesPerToken?: number;
}

/**
 * The engine's hold timeout runs on the wall clock (an unref'd timer), not on the engine's clock. In a
 * replay, wall time depends on the host's speed, so an expiry would free blocks at a random point of
 * virtual time; prefill mockers hold for setTimeout's longest delay (24.8 days) instead, and a hold that is
 * never released shows up as `heldAtEnd`.
 */
const REPLAY_KV_HOLD_TIMEOUT_MS = 2 ** 31 - 1;

export interface SimPoolOptions {
  role: SimRole;
  count: number;
  /** Worker id prefix: "w" → w0, w1, ... */
  prefix: string;
  settings: SimEngineSettings;
  /** Decode workers: the connector that pulls a remote prompt's KV (built per worker). */
  kvConnector?: (workerId: WorkerId) => KvConnector;
}

/** Start `count` mockers on the loop's clock, registered with `router`, their KV events and load wired in. */
export function startSimWorkers(
  router: Router,
  loop: VirtualTimeLoop,
  options: SimPoolOptions,
): Map<WorkerId, SimWorker> {
  const s = options.settings;
  const workers = new Map<WorkerId, SimWorker>();
  for (let k = 0; k < options.count; k++) {
    const workerId = asWorkerId(`${options.prefix}${k}`);
    let engine: MockEngine | undefined;
    // "Has work" = its step loop runs. A loop parked on memory (a prefill worker whose blocks are all held
    // for decode pulls still in flight) is idle: only a timer elsewhere (the pull) can wake it.
    const clock = loop.addWorker(() => engine?.stepping ?? false);
    engine = new MockEngine({
      workerId,
      clock,
      numKvBlocks: s.numKvBlocks,
      blockSize: s.blockSize,
      maxNumSeqs: s.maxNumSeqs,
      maxNumBatchedTokens: s.maxNumBatchedTokens,
      contextLength: s.contextLength,
      vocabSize: s.vocabSize,
      speedupRatio: s.speedupRatio,
      kvBytesPerToken: s.kvBytesPerToken,
      kvConnector: options.kvConnector?.(workerId),
      kvHoldTimeoutMs: options.role === 'prefill' ? REPLAY_KV_HOLD_TIMEOUT_MS : undefined,
      events: (event) => router.applyKvEvent(workerId, event),
    });
    const record: WorkerRecord = { workerId, requests: 0, preemptions: 0, steps: 0, prefillTokens: 0 };
    if (options.role !== 'aggregated') record.role = options.role;
    const mocker = engine;
    engine.onStep((step) => {
      record.steps++;
      record.preemptions += step.numPreempted;
      record.prefillTokens += step.numPrefillTokens;
      router.updateLoad(mocker.loadMetrics());
    });
    router.addWorker({
      workerId,
      blockSize: s.blockSize,
      totalBlocks: s.numKvBlocks,
      maxNumBatchedTokens: s.maxNumBatchedTokens,
      // What a live mocker worker publishes in its model card (`publishedStepTiming`).
      stepTiming: scaleStepTiming(MOCKER_STEP_TIMING, s.speedupRatio),
    });
    workers.set(workerId, { engine, record });
  }
  return workers;
}
