/**
 * Which engine a worker hosts, like choosing the application a service container runs: the real scratch
 * engine (loads weights, runs the forward pass) or the mocker (same scheduler and KV cache, a timing model
 * instead of math). Both are built with the worker's instance id as their worker id, so their load metrics
 * and KV events name the registered instance.
 */
import { basename, resolve } from 'node:path';
import type { EngineCore, EngineOptions } from '../engine/index.ts';
import { LlmEngine } from '../engine/index.ts';
import { MockEngine, type MockEngineOptions } from '../mocker/index.ts';
import { loadModelConfig } from '../model/index.ts';
import type { WorkerId } from '../protocols/ids.ts';

export type WorkerEngineKind = 'scratch' | 'mocker';

export type WorkerEngineSpec =
  /** The from-scratch Llama engine; `options.modelDir` is also what frontends load the tokenizer from. */
  | { kind: 'scratch'; options: EngineOptions }
  /**
   * The mocker. `modelDir` supplies the tokenizer (for frontends), the served name (its folder name) and
   * config.json's vocabulary size, context length and EOS ids, so its pseudo-tokens decode with that tokenizer; `options` win over both.
   */
  | { kind: 'mocker'; modelDir: string; options?: MockEngineOptions }
  /** Bring your own engine (tests, embedding); `modelDir` is the tokenizer source for the model card. */
  | { kind: 'custom'; modelDir: string; create: (workerId: WorkerId) => Promise<EngineCore> };

/** The model folder the spec serves (absolute): the model card's tokenizer source. */
export function specModelDir(spec: WorkerEngineSpec): string {
  return resolve(spec.kind === 'scratch' ? spec.options.modelDir : spec.modelDir);
}

/** Build the engine a spec describes, stamped with `workerId`. */
export async function createWorkerEngine(spec: WorkerEngineSpec, workerId: WorkerId): Promise<EngineCore> {
  switch (spec.kind) {
    case 'scratch':
      return LlmEngine.create({ ...spec.options, workerId });
    case 'mocker': {
      const config = loadModelConfig(spec.modelDir);
      return new MockEngine({
        modelName: basename(resolve(spec.modelDir)),
        vocabSize: config.vocabSize,
        contextLength: config.maxPositionEmbeddings,
        eosTokenIds: config.eosTokenIds,
        ...stripUndefined(spec.options ?? {}),
        workerId,
      });
    }
    case 'custom':
      return spec.create(workerId);
  }
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
