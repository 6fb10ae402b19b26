/**
 * Where a load generator's prompts come from, the three ways vLLM's `bench serve` and aiperf offer:
 *
 *   synthetic  --input-len / --output-len / --prefix-len / --range-ratio / --num-prompts, seeded
 *   jsonl      --prompts FILE: one {"prompt": "...", "output_len"?: N} per line (or a plain string)
 *   trace      --trace FILE (Mooncake JSONL): input_length, output_length, hash_ids, timestamp
 *
 * We do not have the server's tokenizer (it may be vLLM's), so synthetic text is made of common English
 * words, each about one token in BPE vocabularies; `--tokenizer DIR` calibrates the word count so the prompt
 * is the requested number of that tokenizer's tokens. Trace prompts give every hash id its own deterministic
 * run of words: equal hash ids → equal text → a shared prefix the server's prefix cache can reuse, which is
 * what makes a Mooncake trace a cache benchmark.
 */
import { readFileSync } from 'node:fs';
import { readTrace } from '../replay/index.ts';
import { DhwError } from '../util/errors.ts';
import { createRng, type Rng } from '../util/prng.ts';

/** A prompt file that cannot be used: the message names the line and the fix. */
export class PromptFileError extends DhwError {}
import type { BenchPrompt } from './openai-stream-client.ts';

/** Common words, single tokens (with their leading space) in GPT-2, Llama-2/3, Mistral and Qwen BPEs. */
const WORDS = (
  'the of and to in is was for on with as by at from his that be this are it an not or have had which one ' +
  'you were all her their there been has when who will more no if out so said what up its about into than ' +
  'them can only other new some time could these two may then do first any my now such like our over man ' +
  'me even most made after also did many before must through back years where much your way well down ' +
  'should because each just those people how too little state good very make world still own see men work ' +
  'long get here between both life being under never day same another know while last might us great old ' +
  'year off come since against go came right used take three'
).split(' ');

/** A prompt plus, for trace replay, when to send it (ms after the start). */
export interface ScheduledPrompt extends BenchPrompt {
  atMs?: number;
}

/** Counts tokens of a text; present when `--tokenizer` was given. */
export type TokenCounter = (text: string) => number;

export interface SyntheticPromptOptions {
  numPrompts: number;
  inputLen: number;
  outputLen: number;
  /** Tokens of one prefix shared by every prompt (vLLM's --random-prefix-len). */
  prefixLen: number;
  /** Lengths drawn uniformly from [len·(1−r), len·(1+r)] (vLLM's --random-range-ratio). */
  rangeRatio: number;
  seed: number;
}

function words(rng: Rng, count: number): string {
  let text = '';
  for (let i = 0; i < count; i++) text += ` ${WORDS[Math.floor(rng.nextFloat() * WORDS.length)]!}`;
  return text;
}

/**
 * Text of about `tokens` tokens. With a counter, adjust the word count until the tokenizer agrees
 * (a few passes: words merge or split at most slightly), so `--input-len` is exact for that tokenizer.
 */
function textOfTokens(seed: number, tokens: number, count?: TokenCounter): string {
  if (tokens <= 0) return '';
  let n = tokens;
  let text = words(createRng(seed), n);
  if (!count) return text;
  for (let pass = 0; pass < 4; pass++) {
    const got = count(text);
    if (got === tokens) break;
    n = Math.max(1, n + (tokens - got));
    text = words(createRng(seed), n);
  }
  return text;
}

function lengthIn(rng: Rng, len: number, ratio: number): number {
  if (ratio <= 0) return len;
  const lo = Math.max(1, Math.floor(len * (1 - ratio)));
  const hi = Math.max(lo, Math.ceil(len * (1 + ratio)));
  return lo + Math.floor(rng.nextFloat() * (hi - lo + 1));
}

export function syntheticPrompts(o: SyntheticPromptOptions, count?: TokenCounter): ScheduledPrompt[] {
  const rng = createRng(o.seed);
  const prefix = textOfTokens(o.seed ^ 0x5eed, o.prefixLen, count);
  return Array.from({ length: o.numPrompts }, (_, i) => {
    const own = lengthIn(rng, o.inputLen, o.rangeRatio);
    const output = lengthIn(rng, o.outputLen, o.rangeRatio);
    // A number first, so two prompts never share more than the intended prefix.
    const body = `${i}.${textOfTokens(o.seed * 1_000_003 + i, Math.max(0, own - 1), count)}`;
    return { prompt: prefix + body, outputTokens: output, estimatedInputTokens: o.prefixLen + own };
  });
}

/** `--prompts FILE`: JSONL of {"prompt", "output_len"?} objects or bare strings. */
export function jsonlPrompts(
  path: string,
  defaultOutputLen: number,
  count?: TokenCounter,
): ScheduledPrompt[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new PromptFileError(`cannot read --prompts ${path}: ${(err as Error).message}`, { cause: err });
  }
  const lines = text.split('\n');
  const prompts: ScheduledPrompt[] = [];
  lines.forEach((line, i) => {
    if (line.trim() === '') return;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (err) {
      throw new PromptFileError(
        `${path}:${i + 1}: not JSON (${(err as Error).message}); each line must be {"prompt": "..."}`,
      );
    }
    const obj =
      typeof value === 'string' ? { prompt: value } : (value as { prompt?: unknown; output_len?: unknown });
    if (typeof obj?.prompt !== 'string')
      throw new PromptFileError(`${path}:${i + 1}: needs a string "prompt" field`);
    const out = obj.output_len === undefined ? defaultOutputLen : Number(obj.output_len);
    if (!Number.isInteger(out) || out < 1)
      throw new PromptFileError(`${path}:${i + 1}: output_len must be a positive integer`);
    const estimate = count ? count(obj.prompt) : Math.max(1, Math.round(obj.prompt.length / 4));
    prompts.push({ prompt: obj.prompt, outputTokens: out, estimatedInputTokens: estimate });
  });
  if (prompts.length === 0) throw new PromptFileError(`${path} holds no prompts`);
  return prompts;
}

export interface TracePromptOptions {
  /** Multiply timestamps by this (0.25 = arrivals 4× as fast), as `dhw replay --time-scale`. */
  timeScale: number;
  /** Tokens per hash id (Mooncake: 512). */
  traceBlockSize: number;
  maxRequests?: number;
}

/**
 * `--trace FILE`: one prompt per record, built block by block from its hash ids (the last block cut to
 * `input_length`), sent at `timestamp × timeScale`; `output_length` becomes max_tokens.
 */
export function tracePrompts(path: string, o: TracePromptOptions, count?: TokenCounter): ScheduledPrompt[] {
  const records = readTrace(path, { traceBlockSize: o.traceBlockSize, maxRequests: o.maxRequests });
  const blockText = new Map<number, string>();
  const textOf = (id: number, tokens: number): string => {
    if (tokens < o.traceBlockSize) return textOfTokens(id * 7919 + tokens, tokens, count);
    let text = blockText.get(id);
    if (text === undefined) {
      text = textOfTokens(id, o.traceBlockSize, count);
      blockText.set(id, text);
    }
    return text;
  };
  const start = records[0]?.timestampMs ?? 0;
  return records.map((r) => {
    let prompt = '';
    r.hashIds.forEach((id, b) => {
      const tokens = Math.min(o.traceBlockSize, r.inputLength - b * o.traceBlockSize);
      if (tokens > 0) prompt += textOf(id, tokens);
    });
    return {
      prompt,
      outputTokens: Math.max(1, r.outputLength),
      estimatedInputTokens: r.inputLength,
      atMs: (r.timestampMs - start) * o.timeScale,
    };
  });
}
