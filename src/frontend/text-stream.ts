/**
 * Engine tokens → text deltas: detokenize incrementally, cut at stop strings, attach logprobs, and report
 * how the request finished. Like a proxy's response filter between backend and client: it reads the
 * backend's stream, rewrites it, and hangs up on the backend (breaks the loop, which cancels the engine
 * request) the moment the client has what it needs.
 *
 *   engine.generate → tokenId → StreamingDetokenizer → text → StopStringMatcher → TextStreamEvent
 */
import type { EngineOutput, EngineRequest, GenerateOptions, InferenceEngine } from '../protocols/engine.ts';
import type { OpenAiFinishReason } from '../protocols/openai.ts';
import { StreamingDetokenizer, type Tokenizer } from '../tokens/index.ts';
import { DhwError } from '../util/errors.ts';
import { StopStringMatcher } from './stop-strings.ts';

/** One sampled token's log-probability and alternatives, with token ids already turned into text. */
export interface TokenLogprobText {
  token: string;
  logprob: number;
  top: { token: string; logprob: number }[];
}

/** A scored prompt token: like TokenLogprobText, null for the first (nothing comes before it). */
export interface PromptLogprobText {
  token: string;
  tokenId: number;
  logprob: number | null;
  /** 1 = the model's most likely token there (null with logprob). */
  rank: number | null;
  top: { token: string; tokenId: number; logprob: number }[] | null;
}

export type TextStreamEvent =
  /**
   * New text (may be ""), with logprobs of the tokens that produced it (empty unless asked for); the first
   * delta of a request that scores its prompt also carries the prompt's scores.
   */
  | { kind: 'delta'; text: string; logprobs: TokenLogprobText[]; prompt?: PromptLogprobText[] }
  | { kind: 'finish'; finishReason: OpenAiFinishReason; completionTokens: number; cachedTokens: number };

export interface TextStreamOptions {
  engine: InferenceEngine;
  tokenizer: Tokenizer;
  request: EngineRequest;
  stop: readonly string[];
  skipSpecialTokens: boolean;
  signal: AbortSignal;
  /** The caller reads the text only once it is whole (non-streaming): the engine may batch its outputs. */
  wholeOutput?: boolean;
  /** Called for every token the engine returns (latency metrics). */
  onToken?: () => void;
}

const WHOLE_OUTPUT: GenerateOptions = { wholeOutput: true };

/** The engine failed the request (finish_reason "error"). */
export class GenerationError extends DhwError {}

/**
 * Runs one request through the engine and yields text deltas, then exactly one 'finish' event.
 * If the client goes away (signal aborted), it returns without a 'finish' event.
 */
export async function* streamText(options: TextStreamOptions): AsyncGenerator<TextStreamEvent> {
  const { engine, tokenizer, request, signal } = options;
  const detokenizer = new StreamingDetokenizer(tokenizer, {
    skipSpecialTokens: options.skipSpecialTokens,
    promptIds: request.promptTokenIds,
  });
  const stops = new StopStringMatcher(options.stop);
  let completionTokens = 0;
  let cachedTokens = 0;
  let engineFinish: EngineOutput['finishReason'];
  let pendingLogprobs: TokenLogprobText[] = [];
  let pendingPrompt: PromptLogprobText[] | undefined;
  let promptScored = false; // a migrated request's continuation scores its longer prompt again: keep the first
  // Nothing reads this request's text before it ends (non-streaming, no stop string to cut at, no per-token
  // logprobs): its tokens are decoded once, with the last one, instead of twice per token.
  const decodeAtEnd =
    options.wholeOutput === true &&
    options.stop.length === 0 &&
    request.logprobs === undefined &&
    request.promptLogprobs === undefined;

  const hints = options.wholeOutput ? WHOLE_OUTPUT : undefined;
  for await (const output of engine.generate(request, signal, hints)) {
    engineFinish = output.finishReason;
    // An aborted or failed request's last output carries no real token.
    if (engineFinish === 'abort' || engineFinish === 'error') break;
    completionTokens++;
    options.onToken?.();
    cachedTokens = output.numCachedTokens;
    if (decodeAtEnd && engineFinish === undefined) {
      detokenizer.append(output.tokenId);
      continue;
    }
    if (request.logprobs !== undefined) pendingLogprobs.push(logprobText(tokenizer, output));
    if (output.promptLogprobs && !promptScored) {
      promptScored = true;
      pendingPrompt = promptLogprobText(tokenizer, request, output.promptLogprobs);
    }
    let delta = detokenizer.push(output.tokenId);
    if (output.finishReason !== undefined) delta += detokenizer.flush();
    const match = stops.push(delta);
    if (match.text.length > 0 || match.stopped || output.finishReason !== undefined) {
      yield pendingPrompt
        ? { kind: 'delta', text: match.text, logprobs: pendingLogprobs, prompt: pendingPrompt }
        : { kind: 'delta', text: match.text, logprobs: pendingLogprobs };
      pendingLogprobs = [];
      pendingPrompt = undefined;
    }
    if (match.stopped) {
      // Leaving the loop cancels the engine request: a stop string ends it like EOS would.
      yield { kind: 'finish', finishReason: 'stop', completionTokens, cachedTokens };
      return;
    }
    if (engineFinish !== undefined) break;
  }
  if (signal.aborted || engineFinish === 'abort') return;
  if (engineFinish === 'error' || engineFinish === undefined) {
    throw new GenerationError(
      `the engine ended request ${request.requestId} ${engineFinish === 'error' ? 'with an error' : 'without a finish reason'}; see the engine log for this request id`,
    );
  }
  const rest = stops.flush();
  if (rest.length > 0) yield { kind: 'delta', text: rest, logprobs: [] };
  yield { kind: 'finish', finishReason: engineFinish, completionTokens, cachedTokens };
}

/** The engine's prompt scores as text: each prompt token's own text, its logprob and the top n. */
function promptLogprobText(
  tokenizer: Tokenizer,
  request: EngineRequest,
  scores: NonNullable<EngineOutput['promptLogprobs']>,
): PromptLogprobText[] {
  const tokenText = (id: number): string => tokenizer.decode([id], { skipSpecialTokens: false });
  return request.promptTokenIds.map((id, t) => {
    const score = scores[t];
    if (!score) return { token: tokenText(id), tokenId: id, logprob: null, rank: null, top: null };
    return {
      token: tokenText(id),
      tokenId: id,
      logprob: score.logprob,
      rank: score.rank,
      top: score.topLogprobs.map((e) => ({
        token: tokenText(e.tokenId),
        tokenId: e.tokenId,
        logprob: e.logprob,
      })),
    };
  });
}

function logprobText(tokenizer: Tokenizer, output: EngineOutput): TokenLogprobText {
  const tokenText = (id: number): string => tokenizer.decode([id], { skipSpecialTokens: false });
  return {
    token: tokenText(output.tokenId),
    logprob: output.logprob ?? 0,
    top: (output.topLogprobs ?? []).map((t) => ({ token: tokenText(t.tokenId), logprob: t.logprob })),
  };
}
