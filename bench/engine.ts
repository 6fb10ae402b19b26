/**
 * `npm run bench:engine`: how fast is our forward pass on this machine?
 *
 * Prefill: one prompt of P tokens in one forward pass (compute-bound: matrix × matrix).
 * Decode:  one sequence, one token per step (memory-bound: every weight is read once per token).
 * Numbers are medians over repeats after a warm-up, printed with the machine's core count so runs on
 * different machines can be compared honestly. Tests never assert these numbers.
 *
 * Options: --model DIR (default models/fortune-llama), --prompt-tokens 256, --decode-tokens 128, --repeats 5
 */
import { cpus } from 'node:os';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { argmax, LlamaModel, SequenceSession } from '../src/model/index.ts';
import { defaultModelDir } from '../src/util/paths.ts';

const { values } = parseArgs({
  options: {
    model: { type: 'string', default: defaultModelDir },
    'prompt-tokens': { type: 'string', default: '256' },
    'decode-tokens': { type: 'string', default: '128' },
    repeats: { type: 'string', default: '5' },
  },
});
const promptTokens = Number(values['prompt-tokens']);
const decodeTokens = Number(values['decode-tokens']);
const repeats = Number(values.repeats);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

const model = await LlamaModel.load(values.model!);
const c = model.config;
// Deterministic pseudo-prompt: token ids spread over the vocabulary.
const prompt = Array.from({ length: promptTokens }, (_, i) => (i * 7919 + 13) % c.vocabSize);
const maxTokens = promptTokens + decodeTokens + 1;
if (maxTokens > c.maxPositionEmbeddings) {
  throw new Error(
    `prompt + decode = ${maxTokens} tokens exceeds the model's context of ${c.maxPositionEmbeddings}`,
  );
}

function runOnce(): { prefillMs: number; decodeMs: number } {
  const session = new SequenceSession(model, { maxTokens });
  const t0 = performance.now();
  session.feed(prompt);
  const t1 = performance.now();
  let token = 1;
  for (let i = 0; i < decodeTokens; i++) {
    const logits = session.feed([token]);
    token = argmax(logits);
  }
  return { prefillMs: t1 - t0, decodeMs: performance.now() - t1 };
}

runOnce(); // warm-up: JIT compilation, page faults
const runs = Array.from({ length: repeats }, runOnce);
const prefillTps = (promptTokens / median(runs.map((r) => r.prefillMs))) * 1000;
const decodeTps = (decodeTokens / median(runs.map((r) => r.decodeMs))) * 1000;
// Matmul FLOPs per token ≈ 2 × parameters touched per token (embedding lookup excluded).
const perLayer =
  c.hiddenSize * (c.numHeads * c.headDim) * 2 +
  c.hiddenSize * (c.numKvHeads * c.headDim) * 2 +
  c.hiddenSize * c.intermediateSize * 3;
const flopsPerToken = 2 * (c.numLayers * perLayer + c.hiddenSize * c.vocabSize);

console.log(
  `machine: ${cpus().length} cores (${cpus()[0]?.model ?? 'unknown CPU'}), node ${process.version}`,
);
console.log(
  `model:   ${values.model} (${c.architecture}, ${c.numLayers} layers, hidden ${c.hiddenSize}, vocab ${c.vocabSize})`,
);
console.log(`engine:  ours, fp32, one thread; median of ${repeats} runs after a warm-up\n`);
console.log('| phase | tokens | tokens/s | GFLOP/s (matmuls) |');
console.log('|---|---:|---:|---:|');
console.log(
  `| prefill | ${promptTokens} | ${prefillTps.toFixed(1)} | ${((prefillTps * flopsPerToken) / 1e9).toFixed(2)} |`,
);
console.log(
  `| decode (single stream) | ${decodeTokens} | ${decodeTps.toFixed(1)} | ${((decodeTps * flopsPerToken) / 1e9).toFixed(2)} |`,
);
console.log(
  `\nprefill/decode ratio: ${(prefillTps / decodeTps).toFixed(2)}x (batching rows into one matmul pays off)`,
);
