/**
 * Where the CPU of a q8_0 single-stream decode run goes, ours and llama.cpp's (issue 16 item 2, Q14):
 * bench:engine reports ours ÷ llama.cpp twice, by wall clock (decode only, first token excluded) and per
 * CPU-second (the process's CPU over the whole run, prompt included). When the two ratios differ, one of
 * three things does: the prompt's share of the run's CPU, threads other than the one decoding (GC, an idle
 * pool spinning, node-llama-cpp's JS around each token), or time a run waits without using a CPU.
 *
 * Per thread from /proc/self/task (Linux; clock ticks, 10 ms each, so summed over all rounds), per phase
 * from process.cpuUsage(). Same workload as bench:engine's q8 phase: an 8-token prompt, then `tokens`.
 *
 * Like `pidstat -t` around one request: which threads of the server ran, and for how long.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { type LlamaModel, SequenceSession } from '../../src/model/index.ts';
import { median } from '../../src/util/stats.ts';
import type { PhaseRunner } from '../llama-cpp/llama-cpp-bench.ts';
import { procCpuSeconds } from './proc-cpu.ts';

export interface CpuSplit {
  label: string;
  /** medians over rounds: CPU ms of the prompt alone, of a whole run (prompt + decode), wall ms of a run */
  promptCpuMs: number;
  runCpuMs: number;
  runWallMs: number;
  /** decode tokens/s by wall clock, first token excluded (what bench:engine's wall ratio uses) */
  decodeTokensPerSec: number;
  /** CPU ms per thread ('main', else name#tid) over all timed runs (threads that ran at least one tick) */
  threadCpuMs: Record<string, number>;
}

/** CPU ms per thread of this process, by thread id: [name, user + system ms, 10 ms steps]. Empty off Linux. */
function threadCpuMs(): Map<string, [string, number]> {
  const ticks = new Map<string, [string, number]>();
  let tasks: string[] = [];
  try {
    tasks = readdirSync('/proc/self/task');
  } catch {
    return ticks;
  }
  for (const tid of tasks) {
    try {
      const ms = procCpuSeconds(`/proc/self/task/${tid}/stat`) * 1000;
      const name = readFileSync(`/proc/self/task/${tid}/comm`, 'utf8').trim();
      ticks.set(tid, [name, ms]);
    } catch {
      // the thread ended between the listing and the read
    }
  }
  return ticks;
}

const cpuMs = (c: NodeJS.CpuUsage): number => (c.user + c.system) / 1000;

/** One engine's decode run and its prompt alone, as closures. */
export interface SplitRunner {
  label: string;
  /** the prompt only (fresh sequence) */
  prompt(): Promise<void>;
  /** prompt + decode; resolves to decode tokens/s by wall clock, first token excluded */
  run(): Promise<number>;
}

/** Our model as a SplitRunner: SequenceSession.feedGreedy, as bench:engine's q8 phase runs it. */
export function oursSplitRunner(
  label: string,
  model: LlamaModel,
  prompt: number[],
  tokens: number,
): SplitRunner {
  const session = () => new SequenceSession(model, { maxTokens: prompt.length + tokens });
  return {
    label,
    prompt: async () => void session().feed(prompt),
    run: async () => {
      const s = session();
      let token = s.feedGreedy(prompt);
      const t0 = performance.now();
      for (let i = 1; i < tokens; i++) token = s.feedGreedy([token]);
      return ((tokens - 1) / (performance.now() - t0)) * 1000;
    },
  };
}

/** llama.cpp's bench runner as a SplitRunner (its prefill phase must hold the same prompt). */
export function llamaSplitRunner(label: string, r: PhaseRunner): SplitRunner {
  return { label, prompt: async () => void (await r.prefill()), run: () => r.decode() };
}

/** `rounds` rounds, engines alternating (order reversed every round), after one warm-up run each. */
export async function measureCpuSplit(runners: SplitRunner[], rounds: number): Promise<CpuSplit[]> {
  const acc = runners.map(() => ({
    prompt: [] as number[],
    run: [] as number[],
    wall: [] as number[],
    rate: [] as number[],
    threads: new Map<string, number>(),
  }));
  for (const r of runners) {
    await r.prompt();
    await r.run();
  }
  for (let round = 0; round < rounds; round++) {
    const order = runners.map((_, i) => i);
    if (round % 2 === 1) order.reverse();
    for (const i of order) {
      const a = acc[i]!;
      let c0 = process.cpuUsage();
      await runners[i]!.prompt();
      a.prompt.push(cpuMs(process.cpuUsage(c0)));
      const before = threadCpuMs();
      c0 = process.cpuUsage();
      const w0 = performance.now();
      a.rate.push(await runners[i]!.run());
      a.wall.push(performance.now() - w0);
      a.run.push(cpuMs(process.cpuUsage(c0)));
      for (const [tid, [name, ms]] of threadCpuMs()) {
        const ran = ms - (before.get(tid)?.[1] ?? 0);
        const key = tid === String(process.pid) ? 'main' : `${name}#${tid}`; // libuv/V8 threads share a name
        if (ran > 0) a.threads.set(key, (a.threads.get(key) ?? 0) + ran);
      }
    }
  }
  return runners.map((r, i) => ({
    label: r.label,
    promptCpuMs: median(acc[i]!.prompt),
    runCpuMs: median(acc[i]!.run),
    runWallMs: median(acc[i]!.wall),
    decodeTokensPerSec: median(acc[i]!.rate),
    threadCpuMs: Object.fromEntries(acc[i]!.threads),
  }));
}

/** One line per engine: the prompt's share, decode-only tokens per CPU-second, cores used, threads. */
export function formatCpuSplit(splits: CpuSplit[], tokens: number): string {
  return splits
    .map((s) => {
      const decodeCpuS = (s.runCpuMs - s.promptCpuMs) / 1000;
      const threads = Object.entries(s.threadCpuMs)
        .map(([name, ms]) => `${name} ${ms} ms`)
        .join(', ');
      return (
        `${s.label}: run (8-token prompt + ${tokens}) ${s.runCpuMs.toFixed(1)} ms CPU, prompt ${s.promptCpuMs.toFixed(1)} ms ` +
        `(${((100 * s.promptCpuMs) / s.runCpuMs).toFixed(1)}%); ${(tokens / (s.runCpuMs / 1000)).toFixed(1)} tok per CPU-s ` +
        `(decode only ${((tokens - 1) / decodeCpuS).toFixed(1)}), wall ${s.decodeTokensPerSec.toFixed(1)} tok/s; ` +
        `CPU ÷ wall of a run ${(s.runCpuMs / s.runWallMs).toFixed(2)}; threads over all rounds: ${threads || 'n/a (no /proc)'}`
      );
    })
    .join('\n');
}
