/**
 * `npm run bench:q8-step`: where one q8_0 single-stream decode step goes (bench/lib/step-profile.ts), on the
 * SmolLM2-135M random checkpoint of bench:engine and the bundled fortune-llama, at a short and a long context.
 *
 * Options: --threads 1 --steps 16 --rounds 8 --contexts 8,512 --weight-dtype q8_0|f32 --models smollm2,fortune
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { LlamaModel } from '../src/model/index.ts';
import type { WeightDtype } from '../src/model/kernels/index.ts';
import { defaultModelDir, repoRoot } from '../src/util/paths.ts';
import { describeMachine, machineLine } from './lib/machine.ts';
import { formatStepProfile, profileDecodeSteps } from './lib/step-profile.ts';

const { values } = parseArgs({
  options: {
    threads: { type: 'string', default: '1' },
    steps: { type: 'string', default: '16' },
    rounds: { type: 'string', default: '8' },
    contexts: { type: 'string', default: '8,512' },
    'weight-dtype': { type: 'string', default: 'q8_0' },
    models: { type: 'string', default: 'smollm2,fortune' },
  },
});
const smollm2 = join(repoRoot, '.dhw', 'bench-models', 'smollm2-135m');
const models: Record<string, string> = { smollm2, fortune: defaultModelDir };
console.log(`machine: ${machineLine(describeMachine())}`);
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
}
console.log(`\nload average now ${describeMachine().loadAvg1m}`);
