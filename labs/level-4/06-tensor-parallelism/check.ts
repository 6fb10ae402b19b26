/**
 * Lab 4.6's check: does a learner's model predict what tensor parallelism puts on the wire? Two parts:
 *
 * 1. Published figures, checked exactly. Llama-3-70B (80 layers, hidden 8192, 64 heads, 8 KV heads, bf16:
 *    its config.json) all-reduces 2·80·8192·2 = 2,621,440 B per token. Links as sold (as in Lab 4.1):
 *    NVLink 4 between H100s = 450 GB/s one way (NVIDIA's 900 GB/s counts both directions), 1 µs assumed;
 *    25 GbE kernel TCP = 25 Gbit/s, 10 µs assumed. At TP = 8 one decode token's all-reduce (16 KiB) is
 *    latency-bound: 14 steps × (1 µs + ...) on NVLink, 14 × (10 µs + ...) on Ethernet, 160 of them per token.
 *    Legal sizes: SmolLM2-135M (9 heads, 3 KV) allows 1, 3, 9; Llama-3-70B allows 1, 2, 4, 8 ... 64.
 * 2. This machine: a two-rank TCP ring in this process; all-reduces of 1 float and of 256 Ki floats fit a
 *    link (latency, bandwidth) through the ring formula; the learner's ringAllReduceMs on that link must
 *    predict a 64 Ki-float all-reduce within 3× of its measurement (INFO in smoke mode: timings vary).
 *
 *   npm run lab -- 4.6 --check [FILE]        # default: starter.ts as shipped
 *   npm run lab -- 4.6 --check --reference
 */
import { cpus, loadavg } from 'node:os';
import {
  type Check,
  type CheckResult,
  checkMain,
  isMain,
  loadSolution,
  relativeError,
  runChecks,
} from '../../lib/exercise.ts';
import { isSmoke } from '../../lib/lab-kit.ts';
import type { Link, TpShape } from './reference.ts';
import { localRing, timeAllReduce } from './tp-rig.ts';

export interface TpSolution {
  allReduceBytesPerToken(shape: TpShape): number;
  ringAllReduceMs(bytes: number, ranks: number, link: Link): number;
  legalTpSizes(numHeads: number, numKvHeads: number, upTo: number): number[];
}

const LLAMA3_70B: TpShape = { numLayers: 80, hiddenSize: 8192, bytesPerValue: 2 };
const FORTUNE_LLAMA: TpShape = { numLayers: 6, hiddenSize: 256, bytesPerValue: 4 };
const NVLINK4: Link = { gigabitsPerSecond: 3600, latencyUs: 1 };
const TCP_25GBE: Link = { gigabitsPerSecond: 25, latencyUs: 10 };
const ONE_TOKEN_70B = 8192 * 2; // one hidden row in bf16

const near = (a: number, b: number) => relativeError(a, b) < 1e-9;
const ringMs = (bytes: number, n: number, l: Link) =>
  n <= 1 ? 0 : 2 * (n - 1) * (l.latencyUs / 1000 + (((bytes / n) * 8) / (l.gigabitsPerSecond * 1e9)) * 1000);

function checkBytes(s: TpSolution, shape: TpShape): string | undefined {
  const got = s.allReduceBytesPerToken(shape);
  const want = 2 * shape.numLayers * shape.hiddenSize * shape.bytesPerValue;
  if (got === want) return undefined;
  const why =
    got * 2 === want
      ? 'half of it: a layer has TWO row-parallel products (attention o_proj and the MLP down_proj), each ends with an all-reduce'
      : `2 all-reduces × ${shape.numLayers} layers × ${shape.hiddenSize} values × ${shape.bytesPerValue} B`;
  return `${got} B per token, expected ${want}: ${why}`;
}

function checkRing(s: TpSolution, bytes: number, n: number, link: Link): string | undefined {
  const got = s.ringAllReduceMs(bytes, n, link);
  const want = ringMs(bytes, n, link);
  if (near(got, want)) return undefined;
  const oneStep = link.latencyUs / 1000 + ((bytes * 8) / (link.gigabitsPerSecond * 1e9)) * 1000;
  const oneStepBytes = link.latencyUs / 1000 + (bytes / (link.gigabitsPerSecond * 1e9)) * 1000;
  const why =
    near(got, oneStep) || near(got, oneStepBytes)
      ? `that is one send of the whole tensor; the ring does 2(N−1) = ${2 * (n - 1)} steps (reduce-scatter, then all-gather), each of bytes/N and each paying the latency`
      : near(got * 8, want) || near(got, want / 8)
        ? 'off by 8: the link is sold in gigaBITS per second'
        : `2(N−1) × (latency + bytes/N × 8 / bandwidth) = ${want.toFixed(6)} ms`;
  return `ringAllReduceMs = ${got.toFixed(6)} ms, expected ${want.toFixed(6)} ms: ${why}`;
}

function checkSizes(
  s: TpSolution,
  heads: number,
  kvHeads: number,
  upTo: number,
  want: number[],
): string | undefined {
  const got = s.legalTpSizes(heads, kvHeads, upTo);
  if (JSON.stringify(got) === JSON.stringify(want)) return undefined;
  return `legalTpSizes(${heads}, ${kvHeads}, ${upTo}) = [${got}], expected [${want}]: a size must split the query heads AND either split the KV heads or put each KV head on a whole number of ranks (a GQA group may not straddle ranks)`;
}

export const CHECKS: Check<TpSolution>[] = [
  {
    title: 'Llama-3-70B bf16: 2,621,440 B all-reduced per token (2 per layer × 80 × 8192 × 2 B)',
    run: (s) => checkBytes(s, LLAMA3_70B),
  },
  {
    title: 'fortune-llama f32: 12,288 B per token (what our engine counts)',
    run: (s) => checkBytes(s, FORTUNE_LLAMA),
  },
  {
    title: 'one decode token of Llama-3-70B at TP=8 over NVLink 4: ~14 µs per all-reduce (latency-bound)',
    run: (s) => checkRing(s, ONE_TOKEN_70B, 8, NVLINK4),
  },
  {
    title:
      '...the same over 25 GbE TCP: ~149 µs, ×160 all-reduces = ~24 ms per token: why TP stays inside a node',
    run: (s) => checkRing(s, ONE_TOKEN_70B, 8, TCP_25GBE),
  },
  {
    title: 'a 4k-token prefill chunk of Llama-3-70B (64 MiB) at TP=8 over NVLink 4: bandwidth-bound',
    run: (s) => checkRing(s, 4096 * ONE_TOKEN_70B, 8, NVLINK4),
  },
  {
    title: 'SmolLM2-135M (9 heads, 3 KV heads): legal sizes 1, 3, 9',
    run: (s) => checkSizes(s, 9, 3, 16, [1, 3, 9]),
  },
  {
    title: 'Llama-3-70B (64 heads, 8 KV heads): 1, 2, 4, 8, 16, 32, 64 (KV heads replicated above 8)',
    run: (s) => checkSizes(s, 64, 8, 64, [1, 2, 4, 8, 16, 32, 64]),
  },
  { title: 'Qwen2-like (6 heads, 4 KV heads): only 1 and 2', run: (s) => checkSizes(s, 6, 4, 8, [1, 2]) },
];

const LARGE = 1 << 18; // 1 MiB of floats: bandwidth-dominated on loopback, still quick

/** Part 2: fit this machine's ring (N = 2) from a tiny and a large all-reduce; predict a medium one. */
async function measuredRing(s: TpSolution): Promise<CheckResult> {
  const smoke = isSmoke();
  const title =
    "this machine's loopback ring (2 ranks): a 64 Ki-float all-reduce predicted within 3× of its measurement";
  const pair = await localRing(2);
  try {
    const repeats = smoke ? 5 : 21;
    const small = await timeAllReduce(pair, 1, repeats);
    const large = await timeAllReduce(pair, LARGE, smoke ? 3 : 9);
    const medium = await timeAllReduce(pair, 1 << 16, repeats);
    // Invert the ring formula for N = 2: t = 2(α + b/(2β)) → α = t(1 float)/2, slope = 1/β per byte.
    const msPerByte = (large - small) / (LARGE * 4 - 4);
    const link: Link = {
      latencyUs: (small / 2) * 1000,
      gigabitsPerSecond: msPerByte > 0 ? 8 / (msPerByte / 1000) / 1e9 : 1,
    };
    const predicted = s.ringAllReduceMs((1 << 16) * 4, 2, link);
    const ratio = Math.max(predicted / medium, medium / predicted);
    const detail = `fitted α ${link.latencyUs.toFixed(0)} µs, ${link.gigabitsPerSecond.toFixed(2)} Gbit/s; predicted ${predicted.toFixed(3)} ms, measured ${medium.toFixed(3)} ms (×${ratio.toFixed(2)})`;
    // Too noisy to fail on in smoke mode or on a machine busier than its core count.
    const busy = loadavg()[0]! > cpus().length;
    if (smoke || (busy && ratio > 3))
      return { title, passed: true, advisory: true, detail: `${detail}${busy ? ' (machine busy)' : ''}` };
    return ratio <= 3
      ? { title, passed: true, detail }
      : { title, passed: false, detail: `${detail}: off by more than 3×` };
  } finally {
    pair.close();
  }
}

export async function checkTpModel(path: string): Promise<CheckResult[]> {
  const solution = await loadSolution<TpSolution>(path, [
    'allReduceBytesPerToken',
    'ringAllReduceMs',
    'legalTpSizes',
  ]);
  const exact = await runChecks(CHECKS, solution);
  let measured: CheckResult;
  try {
    measured = await measuredRing(solution);
  } catch (err) {
    measured = {
      title: "this machine's loopback ring",
      passed: false,
      detail: `threw ${(err as Error).message}`,
    };
  }
  return [...exact, measured];
}

if (isMain(import.meta.url)) await checkMain(import.meta.url, checkTpModel);
