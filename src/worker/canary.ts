/**
 * The health canary: a 1-token generate through the worker's own engine, like a synthetic transaction a
 * monitoring system runs against a service. It proves the whole path works (scheduler, KV blocks, forward
 * pass, sampler), not just that the process is up. Run once before registering, then every `intervalMs`
 * while the worker is idle (real traffic is evidence enough while it is busy). `/health` reports the last
 * result. The prompt is shorter than one KV block, so the canary never fills the prefix cache or emits
 * KV events.
 */
import type { EngineCore } from '../engine/index.ts';
import { DEFAULT_SAMPLING } from '../protocols/engine.ts';
import { asRequestId } from '../protocols/ids.ts';
import type { Logger } from '../util/logger.ts';

export interface CanaryResult {
  ok: boolean;
  /** Time to the canary's one token (or to the failure). */
  latencyMs: number;
  /** ISO time the canary finished. */
  at: string;
  /** Why it failed. */
  error?: string;
}

export interface CanaryOptions {
  engine: EngineCore;
  /** Prefix of the canary's request ids (the instance id). */
  name: string;
  log: Logger;
  /** Period while idle; 0 = only the startup canary. Default 10 000 ms. */
  intervalMs?: number;
  /** A canary without a token after this long has failed. Default 5000 ms. */
  timeoutMs?: number;
  /** True when no caller request is running. */
  isIdle: () => boolean;
  /** Told every result (e.g. the worker's metrics, which export the last one). */
  onResult?: (result: CanaryResult) => void;
}

export class Canary {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<CanaryResult> | undefined;
  private lastResult: CanaryResult | undefined;
  private runs = 0;

  constructor(private readonly opts: CanaryOptions) {}

  get last(): CanaryResult | undefined {
    return this.lastResult;
  }

  /** Run one canary now (or join the one already running). */
  runOnce(): Promise<CanaryResult> {
    this.running ??= this.probe().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  start(): void {
    const intervalMs = this.opts.intervalMs ?? 10_000;
    if (this.timer || intervalMs <= 0) return;
    this.timer = setInterval(() => {
      if (this.opts.isIdle()) void this.runOnce();
    }, intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private async probe(): Promise<CanaryResult> {
    const { engine, log } = this.opts;
    const timeoutMs = this.opts.timeoutMs ?? 5000;
    const started = performance.now();
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), timeoutMs);
    const vocab = engine.info.vocabSize;
    const prompt = [1, 2, 3].map((t) => t % vocab);
    let result: CanaryResult;
    try {
      let tokens = 0;
      const stream = engine.generate(
        {
          requestId: asRequestId(`canary-${this.opts.name}-${++this.runs}`),
          promptTokenIds: prompt,
          sampling: { ...DEFAULT_SAMPLING, temperature: 0 },
          stopping: { maxTokens: 1, stopTokenIds: [], ignoreEos: true },
        },
        abort.signal,
      );
      for await (const _ of stream) tokens++;
      const latencyMs = performance.now() - started;
      result =
        tokens === 1
          ? { ok: true, latencyMs, at: new Date().toISOString() }
          : {
              ok: false,
              latencyMs,
              at: new Date().toISOString(),
              error: abort.signal.aborted
                ? `no token within ${timeoutMs} ms`
                : `got ${tokens} tokens, expected 1`,
            };
    } catch (err) {
      result = {
        ok: false,
        latencyMs: performance.now() - started,
        at: new Date().toISOString(),
        error: (err as Error).message,
      };
    } finally {
      clearTimeout(timer);
    }
    if (!result.ok) log.warn('health canary failed', { error: result.error, latencyMs: result.latencyMs });
    else if (this.lastResult && !this.lastResult.ok)
      log.info('health canary recovered', { latencyMs: result.latencyMs });
    this.lastResult = result;
    this.opts.onResult?.(result);
    return result;
  }
}
