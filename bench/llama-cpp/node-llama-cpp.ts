/**
 * Loads node-llama-cpp (llama.cpp's CPU build for Node) from this separate bench package, installing it on
 * demand, and describes the small slice of its API the benchmark and the parity check use.
 *
 * Like an optional plugin: the main package never depends on it (`npm ci && npm test` works without it);
 * callers get either the module or the reason it is unavailable, and print how to install it.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const benchPackageDir = dirname(fileURLToPath(import.meta.url));
export const INSTALL_HINT = 'npm --prefix bench/llama-cpp ci --omit=optional   (≈ 90 MB, CPU build only)';

/** A token id, as node-llama-cpp brands it. */
export type Token = number & { __token?: true };

export interface LlamaContextSequence {
  evaluate(
    tokens: Token[],
    options?: { temperature?: number; yieldEogToken?: boolean },
  ): AsyncGenerator<Token, void, void>;
  evaluateWithoutGeneratingNewTokens(tokens: Token[]): Promise<void>;
  clearHistory(): Promise<void>;
  dispose(): void;
}

export interface LlamaContext {
  getSequence(): LlamaContextSequence;
  dispose(): Promise<void>;
}

export interface LlamaModel {
  createContext(options: {
    contextSize: number;
    batchSize?: number;
    sequences?: number;
    threads?: number | { ideal?: number; min?: number };
    flashAttention?: boolean;
  }): Promise<LlamaContext>;
  dispose(): Promise<void>;
}

export interface Llama {
  loadModel(options: { modelPath: string }): Promise<LlamaModel>;
  dispose(): Promise<void>;
}

interface NodeLlamaCppModule {
  getLlama(options: { gpu: false; build: 'never'; logLevel: string }): Promise<Llama>;
}

export type LlamaCppAvailability = { ok: true; llama: Llama } | { ok: false; reason: string };

/** node-llama-cpp's CPU backend, or why it cannot be had. `install` runs `npm ci` here when it is missing. */
export async function loadLlamaCpp(options: { install?: boolean } = {}): Promise<LlamaCppAvailability> {
  if (!existsSync(join(benchPackageDir, 'node_modules', 'node-llama-cpp'))) {
    if (!options.install)
      return { ok: false, reason: `node-llama-cpp is not installed; run ${INSTALL_HINT}` };
    const npm = spawnSync('npm', ['ci', '--omit=optional', '--no-audit', '--no-fund'], {
      cwd: benchPackageDir,
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    if (npm.status !== 0) {
      return { ok: false, reason: `could not install node-llama-cpp (offline?); later run ${INSTALL_HINT}` };
    }
  }
  try {
    // A computed specifier keeps the main package's typecheck from needing node-llama-cpp's types; it
    // resolves from this folder, so it finds bench/llama-cpp/node_modules.
    const specifier = 'node-llama-cpp';
    const mod = (await import(specifier)) as NodeLlamaCppModule;
    return { ok: true, llama: await mod.getLlama({ gpu: false, build: 'never', logLevel: 'error' }) };
  } catch (error) {
    return { ok: false, reason: `node-llama-cpp failed to load: ${(error as Error).message}` };
  }
}
