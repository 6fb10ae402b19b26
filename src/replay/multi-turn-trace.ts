/**
 * A small multi-turn conversation workload for router tests and measurements (not the `dhw trace
 * generate` tool): every conversation opens with one shared system prompt, and each turn's prompt is the
 * previous turn's prompt + its answer + a new user message, so consecutive turns share everything but
 * their tail, and different conversations share only the system prompt. Sessions start as a Poisson
 * process; a turn follows the previous one's arrival after a think time. Seeded, Mooncake-format records.
 */
import { createRng } from '../util/prng.ts';
import type { TraceRecord } from './trace.ts';

export interface MultiTurnTraceOptions {
  sessions: number;
  turns: number;
  /** Trace blocks of the system prompt every conversation shares. */
  systemBlocks: number;
  /** Trace blocks of the first user message (documents, context), and of each later user message. */
  firstUserBlocks: number;
  userBlocks: number;
  /** Trace blocks each answer adds to the history. */
  answerBlocks: number;
  outputTokens: number;
  /** New sessions per second (Poisson). */
  sessionRate: number;
  /** Mean ms between two turns of one session (exponential). */
  thinkMs: number;
  seed: number;
  traceBlockSize?: number;
}

export function multiTurnTrace(o: MultiTurnTraceOptions): TraceRecord[] {
  const rng = createRng(o.seed);
  const exp = (mean: number) => -Math.log(1 - rng.nextFloat()) * mean;
  const blockSize = o.traceBlockSize ?? 512;
  const system = Array.from({ length: o.systemBlocks }, (_, i) => i);
  let nextId = o.systemBlocks;
  const fresh = (n: number) => Array.from({ length: n }, () => nextId++);
  const records: Omit<TraceRecord, 'line'>[] = [];
  let start = 0;
  for (let s = 0; s < o.sessions; s++) {
    start += exp(1000 / o.sessionRate);
    let at = start;
    let history = [...system, ...fresh(o.firstUserBlocks)];
    for (let t = 0; t < o.turns; t++) {
      if (t > 0) {
        at += exp(o.thinkMs);
        history = [...history, ...fresh(o.answerBlocks + o.userBlocks)];
      }
      const tail = 1 + Math.floor(rng.nextFloat() * (blockSize - 1)); // the last block is partial
      records.push({
        timestampMs: Math.round(at),
        inputLength: (history.length - 1) * blockSize + tail,
        outputLength: o.outputTokens,
        hashIds: history,
      });
    }
  }
  records.sort((a, b) => a.timestampMs - b.timestampMs);
  return records.map((r, i) => ({ ...r, line: i + 1 }));
}
