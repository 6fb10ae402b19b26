/**
 * Outside cross-check: llama.cpp, fed the GGUF that `dhw model convert` writes, must pick the same greedy
 * tokens as our engine on fortune-llama. It checks the exporter (names, Q/K permutation, metadata) and our
 * forward pass against an independent implementation at once.
 *
 * Not part of `npm test` (its file name does not end in .test.ts): run it with `npm run bench:engine --
 * --check`, or `node --import tsx --test bench/llama-cpp/greedy-parity.check.ts`. It installs this bench
 * package on demand and skips, saying why, when that is impossible (offline).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { convertToGguf, greedyGenerate, LlamaModel } from '../../src/model/index.ts';
import { defaultModelDir } from '../../src/util/paths.ts';
import { llamaCppGreedy } from './llama-cpp-bench.ts';
import { type LlamaCppAvailability, loadLlamaCpp } from './node-llama-cpp.ts';

/** fortune-llama prompts as token ids (tokenization is not under test). */
const PROMPTS = [
  [1, 50, 300, 700, 12, 5, 900, 33],
  [1, 1200, 44, 987, 16, 620, 3, 88, 1500, 7, 254, 19],
  [400, 401, 402, 403],
];
const NEW_TOKENS = 16;

const tmp = mkdtempSync(join(tmpdir(), 'llama-cpp-parity-'));
let llama: LlamaCppAvailability;
before(async () => {
  llama = await loadLlamaCpp({ install: true });
});
after(async () => {
  if (llama?.ok) await llama.llama.dispose();
  rmSync(tmp, { recursive: true, force: true });
});

describe('llama.cpp greedy parity on fortune-llama', () => {
  for (const dtype of ['f32', 'f16'] as const) {
    it(`${dtype} GGUF: llama.cpp's greedy tokens equal ours on ${PROMPTS.length} prompts`, async (t) => {
      if (!llama.ok) return t.skip(llama.reason);
      const { file } = await convertToGguf(defaultModelDir, {
        out: join(tmp, `fortune-${dtype}.gguf`),
        dtype,
      });
      const ours = await LlamaModel.load(defaultModelDir);
      for (const prompt of PROMPTS) {
        const expected = greedyGenerate(ours, prompt, NEW_TOKENS);
        assert.deepEqual(
          await llamaCppGreedy(llama.llama, file, prompt, NEW_TOKENS),
          expected,
          `prompt ${prompt}`,
        );
      }
    });
  }
});
