/**
 * Lab 1.2: one request, traced. Template → tokenize → prefill → one decode step per token, each timed, with
 * the model driven by hand through `SequenceSession` (one sequence, its own KV cache, no scheduler), then the
 * same request through the engine. Like following one packet through every hop with timestamps.
 *
 * @expect Prompt tokens: 15
 * @expect Prefill: 15 tokens in one forward pass
 * @expect /Greedy output matches golden\.json \(\d+ tokens\)/
 * @expect Engine output matches the hand-driven run
 * @expect Lab complete.
 */

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { argmax, LlamaModel, SequenceSession } from '../../../src/model/index.ts';
import { Tokenizer } from '../../../src/tokens/index.ts';
import { defaultModelDir } from '../../../src/util/paths.ts';
import {
  argValue,
  banner,
  formatMs,
  isSmoke,
  note,
  printTable,
  runLab,
  step,
  timed,
  visible,
} from '../../lib/lab-kit.ts';
import { runThroughEngine } from './engine-trace.ts';

const DEFAULT_PROMPT = 'Tell me a fortune about computers.';
const PROMPT = argValue('prompt') ?? DEFAULT_PROMPT;
const MAX_TOKENS = Number(argValue('max-tokens') ?? (isSmoke() ? 8 : 64));

interface GoldenSample {
  messages: { role: string; content: string }[];
  prompt_ids: number[];
  greedy_ids: number[];
  last_top5_ids: number[];
}

function goldenFor(prompt: string): GoldenSample | undefined {
  const golden = JSON.parse(readFileSync(join(defaultModelDir, 'golden.json'), 'utf8')) as {
    samples: GoldenSample[];
  };
  return golden.samples.find((s) => s.messages.length === 1 && s.messages[0]?.content === prompt);
}

/** Softmax of the top-k logits over the whole vocabulary: the model's "how sure" for each candidate. */
function topK(logits: Float32Array, k: number): { id: number; logit: number; prob: number }[] {
  let max = -Infinity;
  for (const v of logits) max = Math.max(max, v);
  let sum = 0;
  for (const v of logits) sum += Math.exp(v - max);
  return [...logits.keys()]
    .sort((a, b) => (logits[b] as number) - (logits[a] as number))
    .slice(0, k)
    .map((id) => ({ id, logit: logits[id] as number, prob: Math.exp((logits[id] as number) - max) / sum }));
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;

async function main(): Promise<void> {
  banner('1.2', 'Trace a request');

  step('Load the model and the tokenizer');
  const { result: model, ms: modelMs } = await timed(() => LlamaModel.load(defaultModelDir));
  const { result: tokenizer, ms: tokMs } = await timed(() => Tokenizer.fromDir(defaultModelDir));
  note(`model ${formatMs(modelMs)}, tokenizer ${formatMs(tokMs)}`);
  const eos = new Set(model.config.eosTokenIds);
  // Warm-up: the first forward pass pays for JIT compilation and scratch buffers; keep it out of the numbers.
  const warmup = new SequenceSession(model, { maxTokens: 64 });
  warmup.feed(Array.from({ length: 32 }, (_, i) => 3 + i));
  for (let i = 0; i < 8; i++) warmup.feed([3 + i]);

  step('Apply the chat template: messages → one prompt string');
  const messages = [{ role: 'user' as const, content: PROMPT }];
  const tStart = performance.now();
  const promptText = tokenizer.applyChatTemplate(messages, { addGenerationPrompt: true });
  note(`"${visible(promptText)}"`);

  step('Tokenize: prompt string → token ids');
  const promptIds = tokenizer.encode(promptText, { addSpecialTokens: false });
  const tTokenized = performance.now();
  note(`Prompt tokens: ${promptIds.length} (tokenize took ${formatMs(tTokenized - tStart)})`);
  printTable(
    ['pos', 'id', 'piece'],
    promptIds.map((id, pos) => [pos, id, visible(tokenizer.decode([id]))]),
  );
  const golden = goldenFor(PROMPT);
  if (golden && golden.prompt_ids.join() !== promptIds.join())
    throw new Error('prompt ids differ from golden.json');

  step('Prefill: the whole prompt in one forward pass (writes the KV cache, scores the next token)');
  const session = new SequenceSession(model, { maxTokens: promptIds.length + MAX_TOKENS });
  const { result: prefillLogits, ms: prefillMs } = await timed(() => session.feed(promptIds));
  note(
    `Prefill: ${promptIds.length} tokens in one forward pass, ${formatMs(prefillMs)} ` +
      `(${((promptIds.length / prefillMs) * 1000).toFixed(0)} tokens/s)`,
  );
  const top = topK(prefillLogits, 5);
  printTable(
    ['rank', 'id', 'piece', 'logit', 'probability'],
    top.map((t, i) => [
      i + 1,
      t.id,
      visible(tokenizer.decode([t.id])),
      t.logit.toFixed(3),
      `${(t.prob * 100).toFixed(1)} %`,
    ]),
  );
  if (golden && golden.last_top5_ids.join() !== top.map((t) => t.id).join()) {
    throw new Error(
      `top-5 after prefill ${top.map((t) => t.id)} differs from golden.json ${golden.last_top5_ids}`,
    );
  }

  step(`Decode: one forward pass per new token (greedy = highest score), up to ${MAX_TOKENS} tokens`);
  const output: number[] = [];
  const stepMs: number[] = [];
  let logits = prefillLogits;
  let firstTokenAt = 0;
  while (output.length < MAX_TOKENS) {
    const next = argmax(logits);
    output.push(next);
    if (output.length === 1) firstTokenAt = performance.now();
    if (eos.has(next) || output.length === MAX_TOKENS) break;
    const { result, ms } = await timed(() => session.feed([next]));
    logits = result;
    stepMs.push(ms);
  }
  printTable(
    ['step', 'id', 'piece', 'forward ms', 'context'],
    output.map((id, i) => [
      i + 1,
      id,
      visible(tokenizer.decode([id])),
      i < stepMs.length ? (stepMs[i] as number).toFixed(2) : eos.has(id) ? '(end token)' : '(max reached)',
      promptIds.length + i + 1,
    ]),
  );
  note(`Text: "${visible(tokenizer.decode(output, { skipSpecialTokens: true }))}"`);

  if (golden) {
    const expected = golden.greedy_ids.slice(0, output.length);
    if (expected.join() !== output.join())
      throw new Error(`greedy ids ${output} differ from golden.json ${expected}`);
    note(
      `Greedy output matches golden.json (${output.length} tokens): same model + same input + greedy = same tokens.`,
    );
  } else {
    note('(custom prompt: no golden.json reference to compare with)');
  }

  step('Summary: the latency metrics');
  const ttft = firstTokenAt - tStart;
  const decodeTotal = stepMs.reduce((a, b) => a + b, 0);
  printTable(
    ['metric', 'value', 'what it is'],
    [
      ['TTFT', formatMs(ttft), 'template + tokenize + prefill + pick the first token'],
      ['prefill', formatMs(prefillMs), `${promptIds.length} tokens at once`],
      ['ITL median', stepMs.length ? formatMs(median(stepMs)) : 'n/a', 'one decode step'],
      ['ITL max', stepMs.length ? formatMs(Math.max(...stepMs)) : 'n/a', 'slowest decode step'],
      [
        'prefill throughput',
        `${((promptIds.length / prefillMs) * 1000).toFixed(0)} tok/s`,
        'compute-bound: many rows per weight read',
      ],
      [
        'decode throughput',
        stepMs.length ? `${((stepMs.length / decodeTotal) * 1000).toFixed(0)} tok/s` : 'n/a',
        'memory-bound: one row per weight read',
      ],
    ],
  );
  note(
    `One decode step ≈ ${(median(stepMs) / (prefillMs / promptIds.length)).toFixed(1)}x the per-token cost of prefill.`,
  );

  step('The same request through the engine (scheduler + KV block manager + sampler)');
  await runThroughEngine({ promptIds, maxTokens: MAX_TOKENS, expected: output, tokenizer });
}

runLab(main);
