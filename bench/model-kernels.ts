/**
 * `node bin/run-ts.mjs bench/model-kernels.ts`: the forward pass's speed under each kernel option, for the
 * fast-kernel work logged in docs/engine-speed.md.
 *
 *   prefill        one prompt of P tokens in one forward pass
 *   decode x1      one sequence, one token per step
 *   decode x16     16 sequences, one token each per step (one 16-row batch): aggregate tokens/s
 *
 * Every figure is the median of --repeats runs after a warm-up (the machine is shared: medians, not means).
 * Options: --model DIR, --threads N, --weight-dtype f32|q8_0, --kernels wasm|ts, --prompt-tokens 128,
 * --decode-tokens 32, --repeats 5
 */
import { cpus } from 'node:os';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { argmax, LlamaModel, makeBatch, SequenceSession } from '../src/model/index.ts';
import type { ModelOptions } from '../src/model/forward.ts';
import { defaultModelDir } from '../src/util/paths.ts';

const { values } = parseArgs({
  options: {
    model: { type: 'string', default: defaultModelDir },
    threads: { type: 'string' },
    'weight-dtype': { type: 'string', default: 'f32' },
    kernels: { type: 'string', default: 'wasm' },
    'prompt-tokens': { type: 'string', default: '128' },
    'decode-tokens': { type: 'string', default: '32' },
    batch: { type: 'string', default: '16' },
    repeats: { type: 'string', default: '5' },
  },
});
const promptTokens = Number(values['prompt-tokens']);
const decodeTokens = Number(values['decode-tokens']);
const batchSize = Number(values.batch);
const repeats = Number(values.repeats);
const options: ModelOptions = {
  threads: values.threads === undefined ? undefined : Number(values.threads),
  weightDtype: values['weight-dtype'] as ModelOptions['weightDtype'],
  kernels: values.kernels as ModelOptions['kernels'],
};

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const loadStart = performance.now();
const model = await LlamaModel.load(values.model!, options);
const loadMs = performance.now() - loadStart;
const c = model.config;
const prompt = Array.from({ length: promptTokens }, (_, i) => (i * 7919 + 13) % c.vocabSize);

function singleStream(): { prefillMs: number; decodeMs: number } {
  const session = new SequenceSession(model, { maxTokens: promptTokens + decodeTokens + 1 });
  const t0 = performance.now();
  let token = argmax(session.feed(prompt));
  const t1 = performance.now();
  for (let i = 0; i < decodeTokens; i++) token = argmax(session.feed([token]));
  return { prefillMs: t1 - t0, decodeMs: performance.now() - t1 };
}

/** `batchSize` sequences with 16-token prompts, then `decodeTokens` steps of one token each. Returns ms/step. */
function batchedDecode(): number {
  const blockSize = 16;
  const blocksPerSeq = Math.ceil((16 + decodeTokens + 1) / blockSize);
  const kv = model.allocateKvCache(batchSize * blocksPerSeq, blockSize);
  const seqs = Array.from({ length: batchSize }, (_, s) => ({
    blockTable: Int32Array.from({ length: blocksPerSeq }, (_, b) => s * blocksPerSeq + b),
    tokens: prompt.slice(s, s + 16),
  }));
  const logits = model.forward(
    makeBatch(
      seqs.map((s) => ({ tokens: s.tokens, startPos: 0, blockTable: s.blockTable })),
      blockSize,
    ),
    kv,
  );
  let next = seqs.map((_, i) => argmax(logits, i * c.vocabSize, c.vocabSize));
  const t0 = performance.now();
  for (let step = 0; step < decodeTokens; step++) {
    const batch = makeBatch(
      seqs.map((s, i) => ({ tokens: [next[i]!], startPos: 16 + step, blockTable: s.blockTable })),
      blockSize,
    );
    const out = model.forward(batch, kv);
    next = seqs.map((_, i) => argmax(out, i * c.vocabSize, c.vocabSize));
  }
  return (performance.now() - t0) / decodeTokens;
}

singleStream();
batchedDecode();
const single = Array.from({ length: repeats }, singleStream);
const batched = Array.from({ length: repeats }, batchedDecode);
const prefillTps = (promptTokens / median(single.map((r) => r.prefillMs))) * 1000;
const decodeTps = (decodeTokens / median(single.map((r) => r.decodeMs))) * 1000;
const batchedTps = (batchSize / median(batched)) * 1000;
const perLayer =
  c.hiddenSize * (c.numHeads * c.headDim) * 2 +
  c.hiddenSize * (c.numKvHeads * c.headDim) * 2 +
  c.hiddenSize * c.intermediateSize * 3;
const gflop = (tps: number): string =>
  ((tps * 2 * (c.numLayers * perLayer + c.hiddenSize * c.vocabSize)) / 1e9).toFixed(2);

console.log(`machine: ${cpus().length} cores (${cpus()[0]?.model ?? '?'}), node ${process.version}`);
console.log(
  `model: ${values.model} (${c.numLayers} layers, hidden ${c.hiddenSize}, vocab ${c.vocabSize}); ` +
    `kernels ${model.kernels.kind}, threads ${model.kernels.threads}, weights ${model.kernels.weightDtype}; ` +
    `load ${loadMs.toFixed(0)} ms; median of ${repeats}`,
);
console.log('| phase | tokens/s | GFLOP/s |');
console.log('|---|---:|---:|');
console.log(`| prefill ${promptTokens} | ${prefillTps.toFixed(1)} | ${gflop(prefillTps)} |`);
console.log(`| decode x1 | ${decodeTps.toFixed(1)} | ${gflop(decodeTps)} |`);
console.log(`| decode x${batchSize} (aggregate) | ${batchedTps.toFixed(1)} | ${gflop(batchedTps)} |`);
await model.close();
