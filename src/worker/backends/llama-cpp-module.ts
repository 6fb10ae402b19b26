/**
 * Loads node-llama-cpp (llama.cpp's Node binding) from its own package folder, `engines/llama-cpp`, and
 * describes the slice of its API the llama.cpp engine uses.
 *
 * Like an optional kernel module: the main package never depends on it (`npm ci && npm test` work
 * without it, and nothing in src/ imports it statically); `dhw worker --engine llamacpp` loads it at start
 * and, when it is missing, fails with the one command that installs it.
 */
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { DhwError } from '../../util/errors.ts';

/** The package folder holding node-llama-cpp (its own package.json and lockfile). */
export const LLAMA_CPP_PACKAGE_DIR = resolve(
  dirname(fileURLToPath(import.meta.url)),
  '../../../engines/llama-cpp',
);
export const LLAMA_CPP_INSTALL_HINT =
  'npm --prefix engines/llama-cpp ci   (CPU build ≈ 90 MB with --omit=optional; without it, also the CUDA/Vulkan builds)';

/** A token id, as node-llama-cpp brands it. */
export type LlamaToken = number & { __token?: true };

/** Sampling applied to the token generated after an input item (llama.cpp's sampler chain). */
export interface LlamaSamplingOptions {
  temperature?: number;
  minP?: number;
  topK?: number;
  topP?: number;
  seed?: number;
}

/** One item of `controlledEvaluate`: a token, or a token after which the next one is generated. */
export type LlamaEvaluateItem =
  | LlamaToken
  | [
      LlamaToken,
      { generateNext?: { token?: boolean; probabilities?: boolean; options?: LlamaSamplingOptions } },
    ];

export interface LlamaEvaluateOutput {
  next: { token?: LlamaToken | null; probabilities?: Map<LlamaToken, number> };
}

export interface LlamaContextSequence {
  /** Tokens whose K/V this sequence holds, in order. */
  readonly contextTokens: LlamaToken[];
  readonly nextTokenIndex: number;
  controlledEvaluate(input: LlamaEvaluateItem[]): Promise<Array<LlamaEvaluateOutput | undefined>>;
  eraseContextTokenRanges(ranges: Array<{ start: number; end: number }>): Promise<void>;
  dispose(): void;
}

export interface LlamaContext {
  getSequence(): LlamaContextSequence;
  dispose(): Promise<void>;
}

export interface LlamaModel {
  readonly trainContextSize: number;
  readonly tokens: { readonly eos: LlamaToken | null };
  readonly fileInfo: {
    metadata: { general?: { name?: string }; tokenizer?: { ggml?: { tokens?: unknown[] } } };
  };
  createContext(options: {
    contextSize: number;
    sequences: number;
    batchSize?: number;
    threads?: number;
  }): Promise<LlamaContext>;
  dispose(): Promise<void>;
}

export interface Llama {
  /** The backend node-llama-cpp picked: false (CPU), 'cuda', 'vulkan', 'metal'. */
  readonly gpu: string | false;
  loadModel(options: { modelPath: string; gpuLayers?: 'auto' | number }): Promise<LlamaModel>;
  dispose(): Promise<void>;
}

interface NodeLlamaCppModule {
  getLlama(options: { gpu: 'auto' | false; build: 'never'; logLevel: string }): Promise<Llama>;
}

/** Is node-llama-cpp installed in its package folder? (Tests skip with the hint when not.) */
export function llamaCppInstalled(): boolean {
  return existsSync(join(LLAMA_CPP_PACKAGE_DIR, 'node_modules', 'node-llama-cpp', 'package.json'));
}

/**
 * node-llama-cpp's runtime with the best backend it finds (a GPU build where one is installed and a GPU is
 * present, else the CPU build). Throws a DhwError naming the install command when it is missing.
 */
export async function loadLlamaCpp(options: { gpu?: 'auto' | false } = {}): Promise<Llama> {
  if (!llamaCppInstalled()) {
    throw new DhwError(
      `--engine llamacpp needs node-llama-cpp, which is not installed. Run: ${LLAMA_CPP_INSTALL_HINT}`,
    );
  }
  // Imported by file URL: it lives in its own package folder, not in the main package's node_modules, and
  // a computed specifier keeps the main typecheck from needing its types.
  const entry = join(LLAMA_CPP_PACKAGE_DIR, 'node_modules', 'node-llama-cpp', 'dist', 'index.js');
  let mod: NodeLlamaCppModule;
  try {
    mod = (await import(pathToFileURL(entry).href)) as NodeLlamaCppModule;
  } catch (cause) {
    throw new DhwError(
      `node-llama-cpp failed to load (${(cause as Error).message}); reinstall: ${LLAMA_CPP_INSTALL_HINT}`,
      {
        cause,
      },
    );
  }
  return mod.getLlama({ gpu: options.gpu ?? 'auto', build: 'never', logLevel: 'error' });
}
