/**
 * The second half of Lab 1.2: the same request through `LlmEngine`, the real backend (scheduler, KV block
 * manager, sampler, step loop). Its step listener is the engine's tracing hook, the same one behind
 * `dhw generate --trace`; here it shows what each step batched and how many KV blocks were in use.
 */

import type { StepEvent } from '../../../src/engine/index.ts';
import { LlmEngine } from '../../../src/engine/index.ts';
import { DEFAULT_SAMPLING } from '../../../src/protocols/engine.ts';
import { asRequestId } from '../../../src/protocols/ids.ts';
import type { Tokenizer } from '../../../src/tokens/index.ts';
import { defaultModelDir } from '../../../src/util/paths.ts';
import { formatBytes, formatMs, isSmoke, note, printTable } from '../../lib/lab-kit.ts';

export interface EngineTraceInput {
  promptIds: number[];
  maxTokens: number;
  /** The tokens the hand-driven run produced: greedy through the engine must give the same. */
  expected: number[];
  tokenizer: Tokenizer;
}

export async function runThroughEngine(input: EngineTraceInput): Promise<void> {
  // A small pool (64 blocks x 16 tokens) is plenty for one request and keeps start-up fast.
  const engine = await LlmEngine.create({ modelDir: defaultModelDir, numKvBlocks: 64 });
  const steps: StepEvent[] = [];
  const unsubscribe = engine.onStep((event) => steps.push(event));
  try {
    const started = performance.now();
    const arrivals: number[] = [];
    const tokens: number[] = [];
    const request = {
      requestId: asRequestId('lab-1.2'),
      promptTokenIds: input.promptIds,
      sampling: { ...DEFAULT_SAMPLING, temperature: 0 },
      // The caller lists the stop ids: the model's EOS ids (StoppingParams in src/protocols/engine.ts).
      stopping: { maxTokens: input.maxTokens, stopTokenIds: [...engine.info.eosTokenIds], ignoreEos: false },
    };
    for await (const output of engine.generate(request)) {
      arrivals.push(performance.now() - started);
      tokens.push(output.tokenId);
    }
    const shown = isSmoke() ? steps.slice(0, 4) : steps.slice(0, 6);
    printTable(
      [
        'step',
        'tokens in pass',
        'of which prompt',
        'seqs',
        'step time',
        'KV blocks in use',
        'KV bytes in use',
      ],
      shown.map((s) => [
        s.step,
        s.numTokens,
        s.numPrefillTokens,
        s.numSeqs,
        formatMs(s.stepMs),
        s.kvBlocksInUse,
        formatBytes(s.kvBytesInUse),
      ]),
    );
    if (steps.length > shown.length) note(`... ${steps.length - shown.length} more decode steps`);
    note(
      `Engine: ${tokens.length} tokens, TTFT ${formatMs(arrivals[0] ?? 0)}, total ${formatMs(arrivals.at(-1) ?? 0)}`,
    );
    if (tokens.join() !== input.expected.join()) {
      throw new Error(`engine produced ${tokens} but the hand-driven run produced ${input.expected}`);
    }
    note(
      `Engine output matches the hand-driven run: "${input.tokenizer.decode(tokens, { skipSpecialTokens: true }).slice(0, 60)}..."`,
    );
    note(
      'Try the CLI view of the same trace: npx dhw generate --chat --trace "Tell me a fortune about computers."',
    );
  } finally {
    unsubscribe();
    await engine.close();
  }
}
