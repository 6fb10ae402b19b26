/**
 * `npm run bench:q8`: single-stream decode with q8_0 weights, ours (integer q8_0 × q8_0 kernel, and the
 * f32-activation kernel it replaces) against llama.cpp on a q8_0 GGUF of the same random-weight
 * SmolLM2-135M checkpoint, runs interleaved; plus memory per model. See bench/lib/engine-q8.ts.
 *
 * Options: --smoke (4 tokens, one repeat) --threads N (default: all cores) --decode-tokens 32 --repeats 5
 *          --model DIR (default: the SmolLM2-135M shape, written to .dhw/bench-models/ once)
 *          --exact (ours on the exact kernel module; default: relaxed SIMD where the runtime has it, as
 *          bench:engine: the relaxed-dot q8_0 tiles, bit-identical logits)
 */
import { existsSync, mkdirSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { writeRandomCheckpoint } from '../src/model/index.ts';
import { repoRoot } from '../src/util/paths.ts';
import { LLAMA_CPP, measureQ8SingleStream } from './lib/engine-q8.ts';
import { describeMachine, machineLine } from './lib/machine.ts';
import { INSTALL_HINT, loadLlamaCpp } from './llama-cpp/node-llama-cpp.ts';

const { values } = parseArgs({
  options: {
    smoke: { type: 'boolean', default: false },
    threads: { type: 'string', default: String(cpus().length) },
    'decode-tokens': { type: 'string', default: '32' },
    repeats: { type: 'string', default: '5' },
    model: { type: 'string' },
    exact: { type: 'boolean', default: false },
  },
});
const smoke = values.smoke === true;
const cacheDir = join(repoRoot, '.dhw', 'bench-models');
mkdirSync(cacheDir, { recursive: true });
let dir = values.model;
if (!dir) {
  dir = join(cacheDir, 'smollm2-135m');
  if (!existsSync(join(dir, 'config.json'))) {
    console.error(`writing a random-weight SmolLM2-135M checkpoint to ${dir} (once)...`);
    writeRandomCheckpoint(dir, { shape: 'smollm2-135m', seed: 0 });
  }
}
const machine = describeMachine();
console.log(`machine: ${machineLine(machine)}`);
const threads = Number(values.threads);
const decodeTokens = smoke ? 4 : Number(values['decode-tokens']);
const repeats = smoke ? 1 : Number(values.repeats);
console.log(
  `workload: ${dir}; single-stream ${decodeTokens} tokens after an 8-token prompt; median of ${repeats} after a warm-up, engines interleaved; threads ${threads}; ours on the ${values.exact ? 'exact' : 'relaxed-SIMD'} kernels\n`,
);

const llama = await loadLlamaCpp();
const r = await measureQ8SingleStream({
  dir,
  cacheDir,
  threads,
  decodeTokens,
  repeats,
  llama: llama.ok ? llama.llama : null,
  relaxedSimd: values.exact !== true,
});
if (llama.ok) await llama.llama.dispose();

const mib = (b: number): string => (b / 2 ** 20).toFixed(1);
console.log('| engine | single-stream tok/s | tokens per CPU-second |');
console.log('|---|---:|---:|');
for (const [label, tps] of Object.entries(r.tokensPerSec))
  console.log(`| ${label} | ${tps.toFixed(1)} | ${r.tokensPerCpuSec[label]!.toFixed(1)} |`);
console.log(
  `\nmemory: matrices ${mib(r.memory.f32MatrixBytes)} MiB f32 → ${mib(r.memory.q8MatrixBytes)} MiB q8_0; ` +
    `RSS of a process holding the model ${mib(r.memory.f32Rss.rssBytes)} MiB f32, ${mib(r.memory.q8Rss.rssBytes)} MiB q8_0 ` +
    `(peak while loading ${mib(r.memory.f32Rss.peakRssBytes)} / ${mib(r.memory.q8Rss.peakRssBytes)} MiB; bare process ${mib(r.memory.q8Rss.baseRssBytes)} MiB)`,
);
console.log(
  `load average now ${describeMachine().loadAvg1m} on ${machine.cores} cores (at start ${machine.loadAvg1m})`,
);
console.log(
  r.ratio === null
    ? `q8_0 vs llama.cpp: not measured (${llama.ok ? '' : llama.reason}; install: ${INSTALL_HINT})`
    : `vs ${LLAMA_CPP}: q8_0 single-stream ${r.ratio.toFixed(2)}x (per CPU-second ${r.cpuRatio!.toFixed(2)}x)`,
);
