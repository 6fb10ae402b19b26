/**
 * Which engine a worker hosts, like choosing the application a service container runs: the real scratch
 * engine (loads weights, runs the forward pass) or the mocker (same scheduler and KV cache, a timing model
 * instead of math). Both are built with the worker's instance id as their worker id, so their load metrics
 * and KV events name the registered instance.
 */
import { basename, resolve } from 'node:path';
import type { EngineCore, EngineOptions } from '../engine/index.ts';
import { createScratchEngine, GuidedDecoder } from '../engine/index.ts';
import { MOCKER_DEFAULTS, MockEngine, type MockEngineOptions } from '../mocker/index.ts';
import { loadModelConfig } from '../model/index.ts';
import type { WorkerId } from '../protocols/ids.ts';
import { MOCKER_STEP_TIMING, scaleStepTiming, type StepTimingModel } from '../protocols/step-timing.ts';
import { WorkerError } from './errors.ts';
import { DhwError } from '../util/errors.ts';
import { LlamaCppEngine, type LlamaCppEngineOptions } from './backends/llama-cpp-engine.ts';
import { OpenAiUpstreamEngine, type OpenAiUpstreamOptions } from './backends/openai-upstream-engine.ts';

export type WorkerEngineKind = 'scratch' | 'mocker' | 'llamacpp' | 'openai';

/** Engine kinds that are some other program's engine behind the same worker (docs/engines.md). */
export const EXTERNAL_ENGINE_KINDS = ['llamacpp', 'openai'] as const;

export type WorkerEngineSpec =
  /** The from-scratch Llama engine; `options.modelDir` is also what frontends load the tokenizer from. */
  | { kind: 'scratch'; options: EngineOptions }
  /**
   * The mocker. `modelDir` supplies the tokenizer (for frontends), the served name (its folder name) and
   * config.json's vocabulary size, context length and EOS ids, so its pseudo-tokens decode with that tokenizer; `options` win over both.
   */
  | { kind: 'mocker'; modelDir: string; options?: MockEngineOptions }
  /**
   * llama.cpp on a GGUF file (node-llama-cpp, installed on demand: engines/llama-cpp). `modelDir` is the
   * tokenizer source for the model card (a folder with tokenizer.json matching the GGUF's vocabulary).
   */
  | { kind: 'llamacpp'; modelDir: string; options: LlamaCppEngineOptions }
  /** Any OpenAI-compatible server; `modelDir` is the tokenizer source for the model card. */
  | { kind: 'openai'; modelDir: string; options: OpenAiUpstreamOptions }
  /** Bring your own engine (tests, embedding); `modelDir` is the tokenizer source for the model card. */
  | { kind: 'custom'; modelDir: string; create: (workerId: WorkerId) => Promise<EngineCore> };

/** The model folder the spec serves (absolute): the model card's tokenizer source. */
export function specModelDir(spec: WorkerEngineSpec): string {
  return resolve(spec.kind === 'scratch' ? spec.options.modelDir : spec.modelDir);
}

/** What the worker adds to every engine kind's options (disaggregated serving). */
export interface WorkerEngineExtras {
  /** How long a finished `doRemoteDecode` prefill keeps its blocks for the pull (engine default 30 s). */
  kvHoldTimeoutMs?: number;
  /** The worker's role: a tensor-parallel engine serves only 'aggregated' (its KV is sharded per rank). */
  role?: 'prefill' | 'decode' | 'aggregated'; // WorkerRole (worker-options.ts imports this file)
}

/**
 * How a mocker worker simulates KV pulls (it has no tensors): bytes per token on the wire, and the mocker's
 * speedup ratio, which divides the link's time like every other simulated time (0: no waiting).
 */
export interface SimulatedKvSpec {
  kvBytesPerToken: number;
  speedupRatio: number;
}

/** The simulation parameters of a non-scratch spec (custom engines get the mocker's defaults). */
export function simulatedKvSpec(spec: WorkerEngineSpec): SimulatedKvSpec {
  const options = spec.kind === 'mocker' ? (spec.options ?? {}) : {};
  return {
    kvBytesPerToken: options.kvBytesPerToken ?? MOCKER_DEFAULTS.kvBytesPerToken,
    speedupRatio: options.speedupRatio ?? MOCKER_DEFAULTS.speedupRatio,
  };
}

/**
 * The step-time model a worker publishes in its model card, for the router's predictions: the mocker's
 * data sheet (the same polynomials it charges its steps with), scaled by its speedup ratio; none for an
 * engine that computes for real (the router learns their prefill rate from observed first tokens).
 */
export function publishedStepTiming(spec: WorkerEngineSpec): StepTimingModel | undefined {
  if (spec.kind !== 'mocker') return undefined;
  return scaleStepTiming(MOCKER_STEP_TIMING, simulatedKvSpec(spec).speedupRatio);
}

/**
 * A pipeline-parallel engine holds only stage 0's layers of the KV cache in this process, so its transfer
 * agent could not serve (or receive) a whole prompt's KV: disaggregated roles are refused, before
 * anything starts, until the agent learns to gather blocks from every stage.
 */
export function checkPipelineRole(spec: WorkerEngineSpec, role: string): void {
  const stages = spec.kind === 'scratch' ? (spec.options.pipelineParallelSize ?? 1) : 1;
  if (stages > 1 && role !== 'aggregated') {
    throw new DhwError(
      `--role ${role} does not work with --pipeline-parallel-size ${stages}: the KV cache is split over the ` +
        "pipeline's stage processes and the transfer agent registers only this process's share. Run " +
        'disaggregated workers with --pipeline-parallel-size 1, or this worker with --role aggregated.',
    );
  }
}

/**
 * Build the engine a spec describes, stamped with `workerId`, with constrained decoding over the model
 * folder's tokenizer (loaded on the first `response_format` request).
 */
export async function createWorkerEngine(
  spec: WorkerEngineSpec,
  workerId: WorkerId,
  extras: WorkerEngineExtras = {},
): Promise<EngineCore> {
  const engine = await createEngineOfKind(spec, workerId, extras);
  engine.setGuidedDecoder(GuidedDecoder.forModelDir(specModelDir(spec), engine.info.vocabSize));
  return engine;
}

async function createEngineOfKind(
  spec: WorkerEngineSpec,
  workerId: WorkerId,
  extras: WorkerEngineExtras,
): Promise<EngineCore> {
  const { kvHoldTimeoutMs } = extras;
  switch (spec.kind) {
    case 'scratch':
      checkTensorParallelRole(spec.options, extras.role);
      return createScratchEngine({ ...spec.options, ...stripUndefined({ kvHoldTimeoutMs }), workerId });
    case 'mocker': {
      const config = loadModelConfig(spec.modelDir);
      return new MockEngine({
        modelName: basename(resolve(spec.modelDir)),
        vocabSize: config.vocabSize,
        contextLength: config.maxPositionEmbeddings,
        eosTokenIds: config.eosTokenIds,
        ...stripUndefined(spec.options ?? {}),
        ...stripUndefined({ kvHoldTimeoutMs }),
        workerId,
      });
    }
    case 'llamacpp':
      checkExternalRole(spec.kind, extras.role);
      return LlamaCppEngine.create({ ...spec.options, ...stripUndefined({ kvHoldTimeoutMs }) }, workerId);
    case 'openai':
      checkExternalRole(spec.kind, extras.role);
      return OpenAiUpstreamEngine.create(spec.options, workerId);
    case 'custom':
      return spec.create(workerId); // its creator sets its own engine options
  }
}

/**
 * KV transfer moves our engine's tensors; llama.cpp's cache and an upstream server's are out of reach, so
 * external engines serve aggregated only.
 */
function checkExternalRole(kind: string, role: string | undefined): void {
  if (role !== undefined && role !== 'aggregated')
    throw new WorkerError(
      `--role ${role} is not supported with --engine ${kind}: its KV cache cannot be moved by our transfer ` +
        'agent. Run it with --role aggregated (the default).',
    );
}

/**
 * Disaggregation moves KV blocks with the transfer agent, which registers one tensor per layer; a
 * tensor-parallel worker's cache is one shard per rank (and per process with --tp-transport tcp), so
 * prefill/decode roles are refused for it rather than served half-right.
 */
export function checkTensorParallelRole(options: EngineOptions, role: string | undefined): void {
  const size = options.tensorParallelSize ?? 1;
  if (size > 1 && role !== undefined && role !== 'aggregated')
    throw new WorkerError(
      `--role ${role} with --tensor-parallel-size ${size} is not supported: KV transfer works on ` +
        'single-rank workers only. Run the prefill/decode workers with --tensor-parallel-size 1, or use --role aggregated.',
    );
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
