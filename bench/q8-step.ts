/**
 * `npm run bench:q8-step`: where one q8_0 single-stream decode step goes (bench/lib/step-profile.ts), on the
 * SmolLM2-135M random checkpoint of bench:engine and the bundled fortune-llama, at a short and a long context.
 *
 * Options: --threads 1 --steps 16 --rounds 8 --contexts 8,512 --weight-dtype q8_0|f32 --models smollm2,fortune
 *          --engine (also: what LlmEngine's scheduler, sampler and step loop add per token; lib/engine-step-overhead.ts)
 *          --floor (instead: the memory floor, a bare WASM read of one token's weights vs the tile on the same
 *          bytes, and llama.cpp's bytes per token; lib/stream-floor.ts) --floor-rounds 9 --llama-tok-s N
 *          --cpu-split (instead: where the CPU of bench:engine's q8 runs goes, ours and llama.cpp's: the
 *          prompt's share, threads other than the decoding one; lib/cpu-split.ts) --split-tokens 32
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { LlamaModel, loadModelConfig } from '../src/model/index.ts';
import type { WeightDtype } from '../src/model/kernels/index.ts';
import { defaultModelDir, repoRoot } from '../src/util/paths.ts';
import { describeMachine, machineLine } from './lib/machine.ts';
import { runCpuSplit } from './lib/cpu-split-run.ts';
import { measureEngineOverhead } from './lib/engine-step-overhead.ts';
import { formatStepProfile, profileDecodeSteps } from './lib/step-profile.ts';
import { formatStreamFloor, ggufBytesPerToken, measureStreamFloor } from './lib/stream-floor.ts';

const { values } = parseArgs({
  options: {
    threads: { type: 'string', default: '1' },
    steps: { type: 'string', default: '16' },
    rounds: { type: 'string', default: '8' },
    contexts: { type: 'string', default: '8,512' },
    'weight-dtype': { type: 'string', default: 'q8_0' },
    models: { type: 'string', default: 'smollm2,fortune' },
    engine: { type: 'boolean', default: false },
    floor: { type: 'boolean', default: false },
    'floor-rounds': { type: 'string', default: '9' },
    'llama-tok-s': { type: 'string' },
    'cpu-split': { type: 'boolean', default: false },
    'split-tokens': { type: 'string', default: '32' },
  },
});
const smollm2 = join(repoRoot, '.dhw', 'bench-models', 'smollm2-135m');
const models: Record<string, string> = { smollm2, fortune: defaultModelDir };
console.log(`machine: ${machineLine(describeMachine())}`);
if (values.floor) {
  const dir = join(repoRoot, '.dhw', 'bench-models', 'smollm2-135m');
  if (!existsSync(join(dir, 'config.json'))) {
    console.error(
      '--floor needs the SmolLM2-135M bench checkpoint: run npm run bench:engine once to write it',
    );
    process.exit(2);
  }
  const gguf = `${dir}-q8_0.gguf`;
  const llama = existsSync(gguf)
    ? {
        bytes: ggufBytesPerToken(gguf),
        tokensPerSec: values['llama-tok-s'] ? Number(values['llama-tok-s']) : null,
      }
    : null;
  console.log(`load average at start ${describeMachine().loadAvg1m}`);
  const floor = measureStreamFloor(loadModelConfig(dir), Number(values['floor-rounds']));
  console.log(`\nsmollm2 q8_0, one thread\n${formatStreamFloor(floor, llama)}`);
  console.log(`\nload average now ${describeMachine().loadAvg1m}`);
  process.exit(0);
}
if (values['cpu-split']) {
  await runCpuSplit(smollm2, Number(values.threads), Number(values['split-tokens']), Number(values.rounds));
  process.exit(0);
}
for (const key of values.models!.split(',')) {
  const dir = models[key];
  if (!dir || !existsSync(join(dir, 'config.json'))) {
    console.error(
      `--models takes smollm2,fortune; ${key}: no checkpoint (run npm run bench:engine once to write smollm2)`,
    );
    process.exit(2);
  }
  for (const context of values.contexts!.split(',').map(Number)) {
    const model = await LlamaModel.load(dir, {
      threads: Number(values.threads),
      weightDtype: values['weight-dtype'] as WeightDtype,
    });
    const profile = profileDecodeSteps(model, context, Number(values.steps), Number(values.rounds));
    console.log(`\n${formatStepProfile(`${key} ${values['weight-dtype']}`, profile)}`);
    await model.close();
  }
  if (values.engine) {
    const o = await measureEngineOverhead(dir, {
      threads: Number(values.threads),
      weightDtype: values['weight-dtype'] as WeightDtype,
      tokens: 48,
      rounds: 5,
    });
    console.log(
      `\n${key} through LlmEngine (one greedy request, 48 tokens, median of 5): bare step ${o.bareStepUs.toFixed(0)} µs, ` +
        `engine step (forward + sampling) ${o.engineStepUs.toFixed(0)} µs, engine wall per token ${o.engineWallUs.toFixed(0)} µs ` +
        `(+${(o.engineWallUs - o.bareStepUs).toFixed(0)} µs, ${((100 * (o.engineWallUs - o.bareStepUs)) / o.bareStepUs).toFixed(1)}%)`,
    );
  }
}
console.log(`\nload average now ${describeMachine().loadAvg1m}`);
