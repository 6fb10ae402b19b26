/**
 * bench:parallel — both model parallelisms on this machine, one report: the tensor-parallel table
 * (bench/parallel-tp.ts: tokens/s, bytes all-reduced per token, predicted vs measured communication per
 * layer) and the pipeline table (bench/parallel-pp.ts: tokens/s, measured vs textbook bubble, memory per
 * stage, link bytes per token). Each script also runs alone; see their headers for what is measured and why.
 *
 * Options: --model DIR (both; default fortune-llama), --smoke (tiny, for CI). The last line is one JSON
 * object with both results.
 */
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { defaultModelDir } from '../src/util/paths.ts';
import { describeMachine, machineLine } from './lib/machine.ts';
import { pipelineBenchTable, runPipelineBench } from './parallel-pp.ts';
import { runParallelTpBench, tpBenchTable } from './parallel-tp.ts';

const { values } = parseArgs({
  options: {
    model: { type: 'string', default: defaultModelDir },
    smoke: { type: 'boolean', default: false },
  },
});
const modelDir = resolve(values.model);
const smoke = values.smoke === true;
const machine = describeMachine();
console.log(machineLine(machine));

const tp = await runParallelTpBench(
  smoke ? { modelDir, promptTokens: 16, decodeSteps: 4, repeats: 1 } : { modelDir },
);
console.log(`\n## Tensor parallelism: ${tp.model} (${tp.layers} layers, hidden ${tp.hidden})\n`);
console.log(
  `loopback link: α = ${(tp.link.alphaMs * 1000).toFixed(1)} µs one way, β = ${(tp.link.betaBytesPerMs / 1e6).toFixed(2)} GB/s\n`,
);
console.log(tpBenchTable(tp));

const ppOptions = smoke
  ? { modelDir, stages: [1, 2], microBatches: [1, 2], sequences: 2, promptTokens: 4, maxTokens: 3 }
  : { modelDir, stages: [1, 2], microBatches: [1, 2, 4], sequences: 8, promptTokens: 32, maxTokens: 32 };
const pp = await runPipelineBench(ppOptions);
console.log(
  `\n## Pipeline parallelism (${ppOptions.sequences} sequences × ${ppOptions.maxTokens} tokens, prompt ${ppOptions.promptTokens})\n`,
);
console.log(pipelineBenchTable(pp));
console.log(JSON.stringify({ machine, tensorParallel: tp, pipelineParallel: pp }));
