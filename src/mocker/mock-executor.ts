/**
 * The mocker's stand-in for the model runner: it charges the step's simulated time on a clock and invents
 * deterministic tokens. Like a stub backend in a load test: same interface and latency shape as the real
 * thing, no work behind it.
 *
 * Token for position p of request r: splitmix32(fnv1a(r) ⊕ p) mod vocab, so a request's output never
 * depends on batching, preemption or which worker runs it. EOS ids are skipped, unless `eosProbability`
 * asks for a (still deterministic) chance of ending early.
 */
import type { Clock } from '../engine/index.ts';
import type { SampleResult, SchedulerOutput, StepExecutor } from '../engine/index.ts';
import type { Sequence } from '../engine/index.ts';
import { sleepMsFor } from './timing-model.ts';

export interface MockExecutorOptions {
  vocabSize: number;
  eosTokenIds: readonly number[];
  /** Chance, per generated token, of producing EOS instead (0 = never). */
  eosProbability: number;
  /** Simulated speed multiplier; 0 = no sleeping. */
  speedupRatio: number;
  clock: Clock;
  /** Active KV tokens / total KV tokens, read at each step. */
  kvUsage: () => number;
}

/** FNV-1a, 32 bits: a tiny string hash to seed each request's token stream. */
export function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** splitmix32 finalizer: spreads a 32-bit input over all output bits. */
function mix32(x: number): number {
  let z = (x + 0x9e3779b9) | 0;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

/** The pseudo-token a request produces at `position` (its index in prompt + output). */
export function pseudoToken(
  requestId: string,
  position: number,
  opts: Pick<MockExecutorOptions, 'vocabSize' | 'eosTokenIds' | 'eosProbability'>,
): number {
  const h = mix32(fnv1a(requestId) ^ mix32(position));
  if (
    opts.eosProbability > 0 &&
    opts.eosTokenIds.length > 0 &&
    mix32(h) / 0x100000000 < opts.eosProbability
  ) {
    return opts.eosTokenIds[0]!;
  }
  let token = h % opts.vocabSize;
  while (opts.eosTokenIds.includes(token)) token = (token + 1) % opts.vocabSize;
  return token;
}

/**
 * What a step costs is decided by its shape, not by its label: a ONE-token chunk that ends its prompt is
 * one query row attending over KV already in the cache, i.e. a decode. That is what a decode worker runs
 * after pulling a prompt's KV (it recomputes only the last prompt token), and what a prompt whose every
 * other token was a prefix hit runs. Charging it as a prefill batch would add the prefill curve's fixed
 * 16.5 ms to every decode step that carries one (a real engine batches it with the decodes).
 */
export function chargedShape(scheduled: SchedulerOutput['scheduled']): {
  numPrefillTokens: number;
  numDecodeSeqs: number;
} {
  let numPrefillTokens = 0;
  let numDecodeSeqs = 0;
  for (const s of scheduled) {
    const decodeShaped = !s.isPrefill || (s.numNewTokens === 1 && s.sample);
    if (decodeShaped) numDecodeSeqs++;
    else numPrefillTokens += s.numNewTokens;
  }
  return { numPrefillTokens, numDecodeSeqs };
}

export class MockExecutor implements StepExecutor {
  constructor(private readonly opts: MockExecutorOptions) {}

  async execute(output: SchedulerOutput): Promise<Array<SampleResult | undefined>> {
    const ms = sleepMsFor(
      { ...chargedShape(output.scheduled), kvUsage: this.opts.kvUsage() },
      this.opts.speedupRatio,
    );
    if (ms > 0) await this.opts.clock.sleep(ms);
    return output.scheduled.map(({ seq, sample }) => (sample ? this.sampleFor(seq) : undefined));
  }

  private sampleFor(seq: Sequence): SampleResult {
    const tokenId = allowedToken(
      biasedToken(pseudoToken(seq.requestId, seq.numTokens, this.opts), seq.sampling.logitBias, this.opts),
      seq.tokenMask,
      this.opts.vocabSize,
    );
    if (seq.logprobs === undefined) return { tokenId };
    // No model, no probabilities: report certainty for the chosen token, made-up ranks for the rest.
    const topLogprobs = Array.from({ length: seq.logprobs }, (_, k) => ({
      tokenId: (tokenId + k) % this.opts.vocabSize,
      logprob: -k,
    }));
    return { tokenId, logprob: 0, topLogprobs };
  }
}

/**
 * logit_bias on invented tokens: the pseudo-token scores 1 (the "model's" pick), every other token 0, the
 * biases are added, and the best score wins (ties: the pseudo-token, then the next unbiased token, then
 * the lowest biased id). So +100 forces a token, -100 bans one, and small biases change nothing, as on a
 * confident model.
 */
export function biasedToken(
  tokenId: number,
  bias: readonly [number, number][] | undefined,
  opts: Pick<MockExecutorOptions, 'vocabSize' | 'eosTokenIds'>,
): number {
  if (bias === undefined || bias.length === 0) return tokenId;
  const biasOf = new Map(bias);
  let best = tokenId;
  let bestScore = 1 + (biasOf.get(tokenId) ?? 0);
  const consider = (id: number, score: number): void => {
    if (score > bestScore) {
      best = id;
      bestScore = score;
    }
  };
  let unbiased = (tokenId + 1) % opts.vocabSize;
  for (
    let tries = 0;
    tries < opts.vocabSize && (biasOf.has(unbiased) || opts.eosTokenIds.includes(unbiased));
    tries++
  ) {
    unbiased = (unbiased + 1) % opts.vocabSize;
  }
  if (!biasOf.has(unbiased)) consider(unbiased, 0);
  for (const [id, b] of bias) if (id !== tokenId) consider(id, b);
  return best;
}

/**
 * Constrained decoding on invented tokens: the token if the grammar allows it, else the next allowed id
 * after it (wrapping), so a mocker's constrained output is still valid JSON, deterministic per request.
 */
export function allowedToken(tokenId: number, mask: Int32Array | undefined, vocabSize: number): number {
  if (mask === undefined) return tokenId;
  for (let k = 0; k < vocabSize; k++) {
    const id = (tokenId + k) % vocabSize;
    if (((mask[id >>> 5]! >>> (id & 31)) & 1) === 1) return id;
  }
  return tokenId; // nothing allowed: a grammar bug; the engine logs the refused token
}
