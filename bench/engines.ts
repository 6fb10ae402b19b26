/**
 * `npm run bench:engines`: what the `--engine llamacpp` seam costs. The same batched greedy workload (N
 * distinct prompts at once, M new tokens each, EOS ignored) on the same GGUF export of fortune-llama, run
 * three ways, interleaved round by round so a shared machine's load hits all of them alike:
 *   direct   — node-llama-cpp alone: N context sequences, one controlledEvaluate per sequence per step;
 *   llamacpp — LlamaCppEngine: our scheduler and KV accounting around the same llama.cpp context;
 *   scratch  — our own engine (LlmEngine) on the Hugging Face checkpoint.
 * Prints output tokens/s (all output tokens / wall time, median over rounds) and the ratios
 * llamacpp ÷ direct (the seam's overhead) and llamacpp ÷ scratch. Needs node-llama-cpp
 * (`npm --prefix engines/llama-cpp ci`); says so and exits 0 without it.
 *
 *   npm run bench:engines -- [--sequences 8] [--prompt-tokens 32] [--new-tokens 32] [--rounds 3] [--threads 2] [--smoke]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createScratchEngine, type EngineCore } from '../src/engine/index.ts';
import { convertToGguf } from '../src/model/index.ts';
import { DEFAULT_SAMPLING } from '../src/protocols/engine.ts';
import { asRequestId, asWorkerId } from '../src/protocols/ids.ts';
import { defaultModelDir } from '../src/util/paths.ts';
import { LlamaCppEngine } from '../src/worker/backends/llama-cpp-engine.ts';
import {
  LLAMA_CPP_INSTALL_HINT,
  type LlamaEvaluateItem,
  type LlamaToken,
  llamaCppInstalled,
  loadLlamaCpp,
} from '../src/worker/backends/llama-cpp-module.ts';
import { positiveInt } from './lib/args.ts';
import { describeMachine, machineLine } from './lib/machine.ts';

const { values } = parseArgs({
  options: {
    sequences: { type: 'string' },
    'prompt-tokens': { type: 'string' },
    'new-tokens': { type: 'string' },
    rounds: { type: 'string' },
    threads: { type: 'string' },
    smoke: { type: 'boolean' },
  },
});
const smoke = values.smoke === true;
const N = positiveInt('--sequences', values.sequences ?? (smoke ? '2' : '8'));
const P = positiveInt('--prompt-tokens', values['prompt-tokens'] ?? '32');
const M = positiveInt('--new-tokens', values['new-tokens'] ?? (smoke ? '4' : '32'));
const ROUNDS = positiveInt('--rounds', values.rounds ?? (smoke ? '1' : '3'));
const THREADS = positiveInt('--threads', values.threads ?? '2');

let run = 0;
/** Fresh distinct prompts per run, so no engine serves a later round from its prefix cache. */
function prompts(): number[][] {
  run++;
  return Array.from({ length: N }, (_, i) =>
    Array.from({ length: P }, (_, j) => 3 + ((run * 7919 + i * 131 + j * 17) % 2000)),
  );
}

async function timeEngine(engine: EngineCore): Promise<number> {
  const batch = prompts();
  const t0 = performance.now();
  const counts = await Promise.all(
    batch.map(async (prompt, i) => {
      let n = 0;
      const request = {
        requestId: asRequestId(`bench-${run}-${i}`),
        promptTokenIds: prompt,
        sampling: { ...DEFAULT_SAMPLING, temperature: 0 },
        stopping: { maxTokens: M, stopTokenIds: [], ignoreEos: true },
      };
      for await (const _ of engine.generate(request)) n++;
      return n;
    }),
  );
  return (counts.reduce((a, b) => a + b, 0) / (performance.now() - t0)) * 1000;
}

async function main(): Promise<void> {
  if (!llamaCppInstalled()) {
    console.log(`bench:engines skipped: node-llama-cpp is not installed (${LLAMA_CPP_INSTALL_HINT})`);
    return;
  }
  const tmp = mkdtempSync(join(tmpdir(), 'bench-engines-'));
  const { file } = await convertToGguf(defaultModelDir, { out: join(tmp, 'fortune-f32.gguf'), dtype: 'f32' });
  const llama = await loadLlamaCpp({ gpu: false });
  const model = await llama.loadModel({ modelPath: file });
  const context = await model.createContext({
    contextSize: N * (P + M + 16),
    sequences: N,
    batchSize: 512,
    threads: THREADS,
  });
  const slots = Array.from({ length: N }, () => context.getSequence());
  const ours = await LlamaCppEngine.create(
    { ggufFile: file, gpu: false, threads: THREADS, maxNumSeqs: N },
    asWorkerId('bench'),
  );
  const scratch = await createScratchEngine({
    modelDir: defaultModelDir,
    maxNumSeqs: N,
    threads: THREADS,
    workerId: 'bench',
  });

  /** node-llama-cpp alone: every sequence evaluates its step in the same tick (one llama_decode). */
  async function direct(): Promise<number> {
    const batch = prompts();
    await Promise.all(slots.map((s) => s.eraseContextTokenRanges([{ start: 0, end: s.nextTokenIndex }])));
    const t0 = performance.now();
    let next = batch as LlamaToken[][];
    let tokens = 0;
    for (let step = 0; step < M; step++) {
      const out = await Promise.all(
        slots.map((s, i) => {
          const items: LlamaEvaluateItem[] = [...next[i]!];
          items[items.length - 1] = [
            next[i]!.at(-1)!,
            { generateNext: { token: true, options: { temperature: 0 } } },
          ];
          return s.controlledEvaluate(items);
        }),
      );
      next = out.map((o, i) => [o[next[i]!.length - 1]!.next.token!]);
      tokens += N;
    }
    return (tokens / (performance.now() - t0)) * 1000;
  }

  const results: Record<'direct' | 'llamacpp' | 'scratch', number[]> = {
    direct: [],
    llamacpp: [],
    scratch: [],
  };
  const machine = describeMachine();
  for (let r = 0; r < ROUNDS + 1; r++) {
    // Round 0 warms every engine up and is not counted.
    const d = await direct();
    const l = await timeEngine(ours);
    const s = await timeEngine(scratch);
    if (r === 0) continue;
    results.direct.push(d);
    results.llamacpp.push(l);
    results.scratch.push(s);
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const m = {
    direct: median(results.direct),
    llamacpp: median(results.llamacpp),
    scratch: median(results.scratch),
  };
  console.log(
    `## bench:engines — ${N} sequences × ${M} new tokens, ${P}-token prompts, greedy, ${THREADS} threads`,
  );
  console.log(`${machineLine(machine)}; ${ROUNDS} rounds, interleaved\n`);
  console.log('| engine | output tok/s (median) | rounds |');
  console.log('| --- | ---: | --- |');
  for (const [k, v] of Object.entries(m)) {
    console.log(
      `| ${k} | ${v.toFixed(0)} | ${results[k as keyof typeof results].map((x) => x.toFixed(0)).join(', ')} |`,
    );
  }
  console.log(
    `\nllamacpp vs direct: ${(m.llamacpp / m.direct).toFixed(2)}x, llamacpp vs scratch: ${(m.llamacpp / m.scratch).toFixed(2)}x`,
  );
  await ours.close();
  await scratch.close();
  await context.dispose();
  await model.dispose();
  await llama.dispose();
  rmSync(tmp, { recursive: true, force: true });
}

await main();
