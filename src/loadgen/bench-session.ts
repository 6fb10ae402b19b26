/**
 * One `dhw bench` invocation from typed options to results: check the endpoint answers (and which model it
 * serves), build the prompts once, run one load or a sweep of loads over the same prompts, and compute the
 * metrics of each run. The CLI only parses flags and prints; tests call this directly.
 */
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { DhwError } from '../util/errors.ts';
import {
  type BenchResult,
  computeBenchResult,
  type GoodputSlo,
  type RequestResult,
} from './bench-metrics.ts';
import type { BenchApi } from './openai-stream-client.ts';
import {
  jsonlPrompts,
  type ScheduledPrompt,
  syntheticPrompts,
  type TokenCounter,
  tracePrompts,
} from './prompt-sources.ts';
import { type ArrivalProcess, type LoadShape, type RunProgress, runBench } from './run-bench.ts';

export type PromptSpec =
  | {
      kind: 'synthetic';
      numPrompts: number;
      inputLen: number;
      outputLen: number;
      prefixLen: number;
      rangeRatio: number;
    }
  | { kind: 'jsonl'; path: string; outputLen: number }
  | { kind: 'trace'; path: string; timeScale: number; traceBlockSize: number; maxRequests?: number };

export interface BenchSessionOptions {
  baseUrl: string;
  /** Served model name; undefined = the first one `GET /models` lists. */
  model?: string;
  apiKey?: string;
  api: BenchApi;
  prompts: PromptSpec;
  requestRate: number;
  arrival: ArrivalProcess;
  concurrency: number;
  seed: number;
  goodput?: GoodputSlo;
  extraBody?: Record<string, unknown>;
  requestTimeoutMs?: number;
  tokenCounter?: TokenCounter;
}

/** A sweep varies one load knob over several values, everything else fixed. */
export interface SweepSpec {
  parameter: 'request-rate' | 'concurrency';
  values: number[];
}

export interface BenchRun {
  label: Record<string, number | string>;
  result: BenchResult;
  results: RequestResult[];
  startedAt: number;
}

/** The endpoint is unreachable or refuses us: the message says what to check. */
export class BenchEndpointError extends DhwError {}

/** GET {base}/models: proves the server answers and names its model. */
export async function fetchModels(baseUrl: string, apiKey?: string): Promise<string[]> {
  const url = new URL(`${baseUrl.replace(/\/+$/, '')}/models`);
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
  const { status, body } = await new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = send(
      url,
      { headers: apiKey ? { authorization: `Bearer ${apiKey}` } : {}, timeout: 10_000 },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (s: string) => {
          text += s;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      },
    );
    req.on('timeout', () => req.destroy(new Error('no answer within 10 s')));
    req.on('error', reject);
    req.end();
  }).catch((err: NodeJS.ErrnoException) => {
    throw new BenchEndpointError(
      `Cannot reach ${url.href} (${err.code ?? err.message}). Is the server running? ` +
        'For this project: `npm start` serves on http://127.0.0.1:8000/v1; check --url (it must end in /v1).',
    );
  });
  if (status === 401 || status === 403) {
    throw new BenchEndpointError(`${url.href} answered ${status}: pass the server's key with --api-key`);
  }
  if (status !== 200)
    throw new BenchEndpointError(
      `${url.href} answered HTTP ${status}: is --url the /v1 base of an OpenAI-compatible server?`,
    );
  try {
    const ids = (JSON.parse(body) as { data?: Array<{ id?: unknown }> }).data?.map((m) => m.id);
    return (ids ?? []).filter((id): id is string => typeof id === 'string');
  } catch {
    throw new BenchEndpointError(
      `${url.href} did not return JSON: is --url the /v1 base of an OpenAI-compatible server?`,
    );
  }
}

export function buildPrompts(spec: PromptSpec, seed: number, count?: TokenCounter): ScheduledPrompt[] {
  switch (spec.kind) {
    case 'synthetic':
      return syntheticPrompts({ ...spec, seed }, count);
    case 'jsonl':
      return jsonlPrompts(spec.path, spec.outputLen, count);
    case 'trace':
      return tracePrompts(spec.path, spec, count);
  }
}

/** Resolve the model, build prompts, run one load (or each sweep point), compute the metrics. */
export async function runBenchSession(
  o: BenchSessionOptions,
  sweep?: SweepSpec,
  progress?: (label: string) => RunProgress,
): Promise<{ model: string; runs: BenchRun[]; prompts: number }> {
  const models = await fetchModels(o.baseUrl, o.apiKey);
  const model = o.model ?? models[0];
  if (model === undefined)
    throw new BenchEndpointError(
      `${o.baseUrl}/models lists no model: is a worker registered? (pass --model to skip the check)`,
    );
  if (o.model !== undefined && models.length > 0 && !models.includes(o.model)) {
    throw new BenchEndpointError(`${o.baseUrl} serves ${models.join(', ')}, not "${o.model}": fix --model`);
  }
  const prompts = buildPrompts(o.prompts, o.seed, o.tokenCounter);
  const points: Array<{ label: Record<string, number | string>; shape: LoadShape }> = sweep
    ? sweep.values.map((v) => ({
        label: { [sweep.parameter]: v },
        shape:
          sweep.parameter === 'request-rate'
            ? { requestRate: v, arrival: o.arrival, concurrency: o.concurrency, seed: o.seed }
            : { requestRate: o.requestRate, arrival: o.arrival, concurrency: v, seed: o.seed },
      }))
    : [
        {
          label: {},
          shape: { requestRate: o.requestRate, arrival: o.arrival, concurrency: o.concurrency, seed: o.seed },
        },
      ];
  const runs: BenchRun[] = [];
  for (const point of points) {
    const name =
      Object.entries(point.label)
        .map(([k, v]) => `${k}=${v}`)
        .join(' ') || 'run';
    const out = await runBench(
      prompts,
      point.shape,
      {
        baseUrl: o.baseUrl,
        model,
        api: o.api,
        apiKey: o.apiKey,
        extraBody: o.extraBody,
        requestTimeoutMs: o.requestTimeoutMs,
      },
      progress?.(name),
    );
    runs.push({
      label: point.label,
      result: computeBenchResult(out.results, out.durationMs, o.goodput),
      results: out.results,
      startedAt: out.startedAt,
    });
  }
  return { model, runs, prompts: prompts.length };
}

/** `request-rate=1,2,4` or `concurrency=1,8,32` → a SweepSpec. */
export function parseSweep(spec: string): SweepSpec {
  const [name, list] = spec.split('=');
  if ((name !== 'request-rate' && name !== 'concurrency') || !list) {
    throw new Error(`--sweep takes request-rate=R1,R2,... or concurrency=C1,C2,..., got "${spec}"`);
  }
  const values = list.split(',').map(Number);
  if (
    values.some((v) => !Number.isFinite(v) || v <= 0) ||
    (name === 'concurrency' && values.some((v) => !Number.isInteger(v)))
  ) {
    throw new Error(
      `--sweep ${name}: every value must be a positive ${name === 'concurrency' ? 'integer' : 'number'}, got "${list}"`,
    );
  }
  return { parameter: name, values };
}
