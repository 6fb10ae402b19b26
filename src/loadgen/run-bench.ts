/**
 * Drive one benchmark run: send every prompt at its moment (or as soon as a concurrency slot frees), time
 * each response, and return the raw per-request results. Three load shapes, as in vLLM's `bench serve`:
 *
 *   --request-rate R          open loop: arrivals at R req/s (Poisson gaps, or constant), never waiting for
 *                             answers; --concurrency C caps how many are in flight (the rest wait for a slot)
 *   --concurrency C           closed loop: C users, each sends its next prompt when its answer ends
 *   --trace FILE              open loop at the trace's own timestamps (× --time-scale)
 *
 * Open loop is how real users arrive (they do not wait for each other); closed loop finds the throughput
 * a fixed pool of clients can push, like `wrk -c C`.
 */
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { createRng } from '../util/prng.ts';
import type { RequestResult } from './bench-metrics.ts';
import { OpenAiStreamClient, type StreamClientOptions } from './openai-stream-client.ts';
import type { ScheduledPrompt } from './prompt-sources.ts';

export type ArrivalProcess = 'poisson' | 'constant';

export interface LoadShape {
  /** Requests per second (open loop); Infinity sends everything at once (then --concurrency paces it). */
  requestRate: number;
  arrival: ArrivalProcess;
  /** Most requests in flight; Infinity = no cap. */
  concurrency: number;
  seed: number;
}

export interface RunProgress {
  /** Called after every finished request. */
  onResult?(result: RequestResult, done: number, total: number): void;
}

export interface RunOutput {
  results: RequestResult[];
  /** First send to last end, ms. */
  durationMs: number;
  /** performance.now() of the first send (to place results on a timeline). */
  startedAt: number;
}

/** Send times (ms after the start) for `count` open-loop arrivals, or undefined for closed loop. */
export function arrivalTimes(count: number, shape: LoadShape): number[] | undefined {
  if (!Number.isFinite(shape.requestRate)) return undefined;
  const rng = createRng(shape.seed);
  const gap = 1000 / shape.requestRate;
  const times: number[] = [];
  let t = 0;
  for (let i = 0; i < count; i++) {
    times.push(t);
    // Exponential gaps make a Poisson process: bursts and lulls as independent users produce.
    t += shape.arrival === 'poisson' ? -Math.log(1 - rng.nextFloat()) * gap : gap;
  }
  return times;
}

/** A counting semaphore: at most `limit` holders. */
class Slots {
  private free: number;
  private readonly waiting: Array<() => void> = [];
  constructor(limit: number) {
    this.free = limit;
  }
  async acquire(): Promise<void> {
    if (this.free > 0) {
      this.free--;
      return;
    }
    await new Promise<void>((resolve) => this.waiting.push(resolve));
  }
  release(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.free++;
  }
}

export async function runBench(
  prompts: readonly ScheduledPrompt[],
  shape: LoadShape,
  client: StreamClientOptions,
  progress: RunProgress = {},
): Promise<RunOutput> {
  const http = new OpenAiStreamClient(client);
  const results: RequestResult[] = [];
  const record = (r: RequestResult): void => {
    results.push(r);
    progress.onResult?.(r, results.length, prompts.length);
  };
  const startedAt = performance.now();
  try {
    const traceTimes = prompts.every((p) => p.atMs !== undefined) ? prompts.map((p) => p.atMs!) : undefined;
    const times = traceTimes ?? arrivalTimes(prompts.length, shape);
    if (times === undefined) await closedLoop(prompts, shape.concurrency, http, record);
    else await openLoop(prompts, times, shape.concurrency, http, record, startedAt);
  } finally {
    http.close();
  }
  const first = Math.min(...results.map((r) => r.sentAt));
  const last = Math.max(...results.map((r) => r.endedAt));
  return { results, durationMs: results.length > 0 ? last - first : 0, startedAt };
}

/** C users, each sending its next prompt as soon as its previous answer ends. */
async function closedLoop(
  prompts: readonly ScheduledPrompt[],
  concurrency: number,
  http: OpenAiStreamClient,
  record: (r: RequestResult) => void,
): Promise<void> {
  let next = 0;
  const users = Math.min(prompts.length, Number.isFinite(concurrency) ? concurrency : prompts.length);
  await Promise.all(
    Array.from({ length: users }, async () => {
      while (next < prompts.length) record(await http.run(prompts[next++]!));
    }),
  );
}

/** Send each prompt at its time; a full concurrency cap delays the send until a slot frees. */
async function openLoop(
  prompts: readonly ScheduledPrompt[],
  times: readonly number[],
  concurrency: number,
  http: OpenAiStreamClient,
  record: (r: RequestResult) => void,
  startedAt: number,
): Promise<void> {
  const slots = new Slots(Number.isFinite(concurrency) ? concurrency : Number.MAX_SAFE_INTEGER);
  const inFlight = new Set<Promise<void>>();
  for (let i = 0; i < prompts.length; i++) {
    const wait = startedAt + times[i]! - performance.now();
    if (wait > 1) await sleep(wait);
    await slots.acquire();
    const p = http.run(prompts[i]!).then((r) => {
      record(r);
      slots.release();
      inFlight.delete(p);
    });
    inFlight.add(p);
  }
  await Promise.all(inFlight);
}
