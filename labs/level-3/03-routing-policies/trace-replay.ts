/**
 * The big picture for Lab 3.3: the public Mooncake trace (real arrival times, prompt lengths and shared
 * prefixes from a production LLM service) replayed through the real router code against simulated workers
 * in virtual time (`src/replay`, what `dhw replay --compare` does), one run per policy. Minutes of traffic
 * in seconds of wall time, and the same numbers every run.
 */
import { existsSync } from 'node:fs';
import { readTrace, runReplay, summarizeReplay } from '../../../src/replay/index.ts';
import type { ReplayMetrics } from '../../../src/replay/index.ts';
import { traceFile } from '../../../src/util/paths.ts';
import { note } from '../../lib/lab-kit.ts';

export const MOONCAKE_TRACE = traceFile('mooncake_synthetic_trace.jsonl');

export async function replayPolicies(
  policies: readonly string[],
  workers: number,
  maxRequests: number,
  seed: number,
): Promise<ReplayMetrics[] | undefined> {
  if (!existsSync(MOONCAKE_TRACE)) {
    note(`(trace not found at ${MOONCAKE_TRACE}: skipping the replay)`);
    return undefined;
  }
  const trace = readTrace(MOONCAKE_TRACE, { maxRequests });
  const results: ReplayMetrics[] = [];
  for (const router of policies) {
    const result = await runReplay(trace, { router, workers, seed });
    results.push(summarizeReplay(result));
  }
  return results;
}
