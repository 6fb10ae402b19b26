/**
 * Small pieces the worker-process benches share: read one metric off a worker's /metrics page, and build
 * the greedy request they send straight to a worker's request plane.
 */
import { DEFAULT_SAMPLING, type EngineRequest } from '../../src/protocols/engine.ts';
import { asRequestId } from '../../src/protocols/ids.ts';

/** Sum of the samples of `name` on a Prometheus page whose label text contains `labels`. */
export async function sumMetric(metricsUrl: string, name: string, labels = ''): Promise<number> {
  const text = await (await fetch(metricsUrl)).text();
  let sum = 0;
  for (const line of text.split('\n'))
    if ((line.startsWith(`${name}{`) || line.startsWith(`${name} `)) && line.includes(labels))
      sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  return sum;
}

/** A greedy request for `maxTokens` tokens that ignores EOS, so every run decodes the same length. */
export function greedyRequest(id: string, prompt: number[], maxTokens: number): EngineRequest {
  return {
    requestId: asRequestId(id),
    promptTokenIds: prompt,
    sampling: { ...DEFAULT_SAMPLING, temperature: 0 },
    stopping: { maxTokens, stopTokenIds: [], ignoreEos: true },
  };
}
