/**
 * The checkpoints the worker benches serve: the bundled fortune-llama, and a random-weight SmolLM2-135M
 * checkpoint written once to `.dhw/bench-models/` (the shape matters for speed, not the weights).
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { writeRandomCheckpoint } from '../../src/model/checkpoint/random-checkpoint.ts';
import { defaultModelDir, repoRoot } from '../../src/util/paths.ts';

/** `--models fortune,smollm2` → [label, checkpoint folder] pairs, writing the SmolLM2 checkpoint if absent. */
export function benchModelDirs(names: string[]): [string, string][] {
  return names.map((name) => {
    if (name === 'fortune') return ['fortune-llama', defaultModelDir];
    if (name !== 'smollm2') throw new Error(`--models: fortune or smollm2, got ${name}`);
    const dir = join(repoRoot, '.dhw', 'bench-models', 'smollm2-135m');
    if (!existsSync(join(dir, 'config.json'))) {
      mkdirSync(dir, { recursive: true });
      console.error(`writing a random-weight SmolLM2-135M checkpoint to ${dir} (once)...`);
      writeRandomCheckpoint(dir, { shape: 'smollm2-135m', seed: 0 });
    }
    return ['smollm2-135m (random)', dir];
  });
}
