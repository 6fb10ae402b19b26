/**
 * What the engine refuses before a request takes any memory, like a server's input validation at the edge:
 * an empty or over-long prompt, token ids outside the vocabulary, a bad `logit_bias` id or `max_tokens`,
 * prompt logprobs an engine cannot compute, malformed KV-transfer parameters. Each refusal is an
 * `InvalidRequestError` naming the field, so the frontend can answer a 400 in OpenAI's shape.
 */
import type { EngineRequest } from '../protocols/engine.ts';
import { explainKvTransferRequest } from '../protocols/kv-transfer.ts';
import { InvalidRequestError } from '../util/errors.ts';

/** The engine's limits a request is checked against. */
export interface RequestLimits {
  /** Most tokens one sequence may hold: min(context length, KV cache tokens). */
  maxModelLen: number;
  contextLength: number;
  /** Tokens the whole KV cache holds (blocks × block size). */
  kvTokens: number;
  vocabSize: number;
  /** Whether the executor computes logits for prompt positions (prompt logprobs). */
  scoresPrompts: boolean;
}

/** Throws `InvalidRequestError` (with the offending field) for a request the engine cannot serve. */
export function validateEngineRequest(request: EngineRequest, limits: RequestLimits): void {
  const { maxModelLen, vocabSize } = limits;
  const n = request.promptTokenIds.length;
  if (n === 0) throw new InvalidRequestError('the prompt is empty: send at least one token', 'prompt');
  if (n >= maxModelLen) {
    throw new InvalidRequestError(
      `This model's maximum context length is ${maxModelLen} tokens (context length ` +
        `${limits.contextLength}, KV cache ${limits.kvTokens} tokens), but the ` +
        `prompt has ${n} tokens: shorten it so at least one token can be generated.`,
      'prompt',
      'context_length_exceeded',
    );
  }
  const bad = request.promptTokenIds.find((t) => !Number.isInteger(t) || t < 0 || t >= vocabSize);
  if (bad !== undefined) {
    throw new InvalidRequestError(
      `token id ${bad} is outside the vocabulary (0..${vocabSize - 1})`,
      'prompt',
    );
  }
  const biased = request.sampling.logitBias?.find(([t]) => t >= vocabSize);
  if (biased !== undefined) {
    throw new InvalidRequestError(
      `logit_bias token id ${biased[0]} is outside the vocabulary (0..${vocabSize - 1})`,
      'logit_bias',
    );
  }
  if (request.promptLogprobs !== undefined && !limits.scoresPrompts) {
    throw new InvalidRequestError(
      'this engine computes no logits for prompt positions (the mocker has no model; pipeline and ' +
        "tensor-parallel workers do not score prompts): prompt logprobs ('echo' with 'logprobs', " +
        "'prompt_logprobs') need a single-process model worker (--engine scratch)",
      'prompt_logprobs',
    );
  }
  if (request.promptLogprobs !== undefined && request.kvTransfer !== undefined) {
    throw new InvalidRequestError(
      'prompt logprobs need the whole prompt computed on one worker: not with disaggregated prefill',
      'prompt_logprobs',
    );
  }
  if (!(request.stopping.maxTokens >= 1)) {
    throw new InvalidRequestError(
      `max_tokens must be at least 1, got ${request.stopping.maxTokens}`,
      'max_tokens',
    );
  }
  if (request.kvTransfer !== undefined) {
    const why = explainKvTransferRequest(request.kvTransfer);
    if (why !== undefined) throw new InvalidRequestError(why, 'kv_transfer_params');
  }
}
