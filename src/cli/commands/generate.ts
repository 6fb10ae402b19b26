/**
 * `dhw generate [DIR] "prompt"`: one request from the command line, no server. With `--trace` it prints each
 * phase as it happens — tokenize → prefill → every decode step (token, text, step time, KV memory in use) —
 * the request's life seen from inside the backend, like `strace` for an inference request.
 */
import { performance } from 'node:perf_hooks';
import type { StepEvent } from '../../engine/engine-core.ts';
import { createScratchEngine } from '../../engine/tp-engine.ts';
import { loadModelConfig } from '../../model/index.ts';
import type { StoppingParams } from '../../protocols/engine.ts';
import { asRequestId } from '../../protocols/ids.ts';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { StreamingDetokenizer, Tokenizer } from '../../tokens/index.ts';
import { formatBytes, formatMs } from '../../util/format.ts';
import { ENGINE_FLAGS, LOGGING_FLAGS, MODEL_FLAGS, SAMPLING_FLAGS, stringFlag, UsageError } from '../args.ts';
import type { Command } from '../command.ts';
import { beginCommand } from '../command-prologue.ts';
import {
  engineOptionsFromFlags,
  modelDirFromFlags,
  samplingFromFlags,
  stoppingFromFlags,
} from '../engine-setup.ts';

const FLAGS = {
  ...MODEL_FLAGS,
  'token-ids': { type: 'string' as const, help: 'comma-separated prompt token ids instead of a text prompt' },
  chat: { type: 'boolean' as const, help: 'wrap the prompt as one user message with the chat template' },
  trace: { type: 'boolean' as const, help: 'print every phase with timings' },
  json: {
    type: 'boolean' as const,
    help: 'print one JSON object (token_ids, text, timings) on the last line',
  },
  ...SAMPLING_FLAGS,
  ...ENGINE_FLAGS,
  'pipeline-stage-addresses': {
    type: 'string' as const,
    help: 'HOST:PORT of pipeline stages 1..N-1 started elsewhere with `dhw worker --pipeline-stage K` (default: spawn them here)',
  },
  ...LOGGING_FLAGS,
};
const USAGE =
  'dhw generate [DIR|FILE.gguf] "prompt" [--chat] [--trace] [--json] | dhw generate [DIR|FILE.gguf] --token-ids 1,2,3';
const DESCRIPTION = 'Run one request through the engine in this process and print the generated text.';

function parseTokenIds(raw: string): number[] {
  const ids = raw.split(',').map((s) => Number(s.trim()));
  if (ids.length === 0 || ids.some((n) => !Number.isInteger(n) || n < 0)) {
    throw new UsageError(`--token-ids must be comma-separated non-negative integers, got "${raw}"`);
  }
  return ids;
}

function quote(text: string): string {
  return JSON.stringify(text);
}

export const generateCommand: Command = {
  name: 'generate',
  summary: 'run one prompt through the engine (--trace shows every phase)',
  async run(argv) {
    const parsed = beginCommand(
      argv,
      { usage: USAGE, description: DESCRIPTION, flags: FLAGS },
      { quietInfo: true },
    );
    if (!parsed) return 0;
    const { values, positionals } = parsed;
    const rawIds = stringFlag(values, 'token-ids');
    const [dirArg, promptArg] =
      rawIds !== undefined || positionals.length >= 2
        ? [positionals[0], positionals[1]]
        : [undefined, positionals[0]];
    const modelDir = modelDirFromFlags(values, dirArg);
    if (rawIds === undefined && promptArg === undefined) throw new UsageError('give a prompt or --token-ids');
    const trace = values.trace === true;
    const json = values.json === true;
    const say = (line: string) => {
      if (trace) console.log(line);
    };

    const loadStart = performance.now();
    // Ids in, ids out: a checkpoint without tokenizer files can still run (text fields are left out).
    const tokenizer =
      rawIds !== undefined && !existsSync(join(modelDir, 'tokenizer.json'))
        ? undefined
        : await Tokenizer.fromDir(modelDir);
    const engine = await createScratchEngine(engineOptionsFromFlags(values, modelDir));
    const loadMs = performance.now() - loadStart;
    const c = loadModelConfig(modelDir);
    say(
      `[load]      ${engine.info.name}: ${c.architecture}, ${c.numLayers} layers, vocab ${c.vocabSize}, context ${c.maxPositionEmbeddings} in ${formatMs(loadMs)}`,
    );

    // Phase 1: text → token ids (skipped when the caller gives ids).
    const tokenizeStart = performance.now();
    let promptIds: number[];
    if (rawIds !== undefined) {
      promptIds = parseTokenIds(rawIds);
    } else if (tokenizer === undefined) {
      throw new UsageError(`${modelDir} has no tokenizer.json: pass --token-ids instead of a text prompt`);
    } else if (values.chat) {
      const text = tokenizer.applyChatTemplate([{ role: 'user', content: promptArg! }], {
        addGenerationPrompt: true,
      });
      promptIds = tokenizer.encode(text, { addSpecialTokens: false });
    } else {
      promptIds = tokenizer.encode(promptArg!);
    }
    const tokenizeMs = performance.now() - tokenizeStart;
    say(`[tokenize]  ${promptIds.length} tokens in ${formatMs(tokenizeMs)}: [${promptIds.join(', ')}]`);

    const stopping = stoppingWithinContext(
      stoppingFromFlags(values, engine.info.eosTokenIds),
      promptIds.length,
      engine.info.contextLength,
      argv.some((a) => a === '--max-tokens' || a.startsWith('--max-tokens=')),
    );

    // Phases 2 and 3: prefill (first step) and decode (one token per step), observed through step events.
    const steps: StepEvent[] = [];
    const unsubscribe = engine.onStep((event) => steps.push(event));
    const detokenizer = tokenizer
      ? new StreamingDetokenizer(tokenizer, { skipSpecialTokens: true, promptIds })
      : undefined;
    const tokenIds: number[] = [];
    let finishReason = 'length';
    let cachedTokens = 0;
    const genStart = performance.now();
    let firstTokenAt = 0;
    try {
      const stream = engine.generate({
        requestId: asRequestId('cli-generate'),
        promptTokenIds: promptIds,
        sampling: samplingFromFlags(values),
        stopping,
      });
      for await (const out of stream) {
        if (tokenIds.length === 0) firstTokenAt = performance.now();
        tokenIds.push(out.tokenId);
        cachedTokens = out.numCachedTokens;
        // Without a tokenizer the stream is the ids themselves, one per line.
        const delta = detokenizer ? detokenizer.push(out.tokenId) : `${out.tokenId}\n`;
        const step = steps[steps.length - 1];
        if (trace && step) {
          const ctx = promptIds.length + tokenIds.length - 1;
          const kv = describeKv(ctx, step.kvBlockSize, step.kvBytesPerBlock);
          if (tokenIds.length === 1) {
            const prefillMs = steps.reduce((sum, s) => sum + s.stepMs, 0);
            const rate = ((promptIds.length - cachedTokens) / prefillMs) * 1000;
            say(
              `[prefill]   ${promptIds.length} tokens (${cachedTokens} cached) in ${formatMs(prefillMs)} → ${rate.toFixed(0)} tok/s; ${kv}`,
            );
            say(`            first token ${out.tokenId} ${quote(delta)}`);
          } else {
            say(
              `[decode ${String(tokenIds.length - 1).padStart(3)}] token ${String(out.tokenId).padStart(5)} ${quote(delta).padEnd(16)} step ${formatMs(step.stepMs).padStart(8)}   ${kv}`,
            );
          }
        } else if (!json && !trace) {
          process.stdout.write(delta);
        }
        if (out.finishReason) finishReason = out.finishReason;
      }
    } finally {
      unsubscribe();
      await engine.close();
    }
    const tail = detokenizer ? `${detokenizer.flush()}\n` : '';
    if (!json && !trace) process.stdout.write(tail);
    const endAt = performance.now();
    const ttftMs = firstTokenAt - genStart;
    const decodeMs = endAt - firstTokenAt;
    const decodeTokPerS = tokenIds.length > 1 ? ((tokenIds.length - 1) / decodeMs) * 1000 : 0;
    const text = detokenizer?.text;
    say(
      `[done]      ${tokenIds.length} tokens, finish_reason=${finishReason}, TTFT ${formatMs(ttftMs)}, decode ${decodeTokPerS.toFixed(1)} tok/s`,
    );
    if (text !== undefined) say(`[text]      ${quote(text)}`);
    if (json) {
      console.log(
        JSON.stringify({
          model: engine.info.name,
          prompt_token_ids: promptIds,
          token_ids: tokenIds,
          text,
          finish_reason: finishReason,
          cached_tokens: cachedTokens,
          timings: {
            load_ms: loadMs,
            tokenize_ms: tokenizeMs,
            ttft_ms: ttftMs,
            decode_ms: decodeMs,
            total_ms: endAt - genStart,
            decode_tokens_per_s: decodeTokPerS,
            steps: steps.map((s) => ({
              step_ms: s.stepMs,
              num_tokens: s.numTokens,
              kv_bytes_in_use: s.kvBytesInUse,
            })),
          },
        }),
      );
    }
    return 0;
  },
};

/**
 * The API's context rule on the command line: a prompt at or past the context is refused; an explicit
 * --max-tokens that would run past it is refused (as a request with that max_tokens gets a 400); the
 * default is capped to the room left, as a request without max_tokens is.
 */
export function stoppingWithinContext(
  stopping: StoppingParams,
  promptTokens: number,
  contextLength: number,
  explicitMaxTokens: boolean,
): StoppingParams {
  const room = contextLength - promptTokens;
  if (room <= 0) {
    throw new UsageError(
      `the prompt is ${promptTokens} tokens, at or past the model's context of ${contextLength}: shorten it`,
    );
  }
  if (explicitMaxTokens && stopping.maxTokens > room) {
    throw new UsageError(
      `--max-tokens ${stopping.maxTokens} plus the prompt's ${promptTokens} tokens exceed the model's context of ` +
        `${contextLength} tokens: pass --max-tokens ${room} or less (the HTTP API refuses this request too)`,
    );
  }
  return { ...stopping, maxTokens: Math.min(stopping.maxTokens, room) };
}

/**
 * The request's own KV footprint after `tokens` tokens: whole blocks are allocated (the last one partly
 * filled), e.g. "KV 7 tokens in 1 block (7/16 slots used) = 12 KiB allocated". Computed from the block size, not
 * read from the pool after the step, where a request that just finished has already returned its blocks.
 */
export function describeKv(tokens: number, blockSize: number, bytesPerBlock: number): string {
  const blocks = Math.ceil(tokens / blockSize);
  const lastSlots = tokens - (blocks - 1) * blockSize;
  const partial =
    lastSlots === blockSize
      ? ''
      : blocks === 1
        ? ` (${lastSlots}/${blockSize} slots used)`
        : ` (${blocks - 1} full + 1 with ${lastSlots}/${blockSize} slots)`;
  return `KV ${tokens} tokens in ${blocks} block${blocks === 1 ? '' : 's'}${partial} = ${formatBytes(blocks * bytesPerBlock)} allocated`;
}
