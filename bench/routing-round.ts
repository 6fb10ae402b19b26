/**
 * `npm run bench:routing`: the routing study's 26 inputs (router README, "Round 3" and "Round 4"): three
 * generated kinds × two seeds × 8/16 workers × 1×/4× arrivals, plus the repo trace's first 1,000 requests
 * on 8 workers at 1×/4×. For each input: the TTFT lower bound any router could reach (`ttft-bound.ts`), and
 * every policy's prefix hit (share of the LRU ceiling) / TTFT mean / TTFT p99 / TPOT p99; then each
 * candidate policy scored against issue 12's bars (≤ 0.5× round-robin's TTFT mean and ≥ 90 % of the
 * ceiling at 4×, TTFT and TPOT p99 no worse than round-robin at 4×, no worse than `kv` by more than the
 * tolerance anywhere).
 *
 * A policy is a name, or a name with policy options as `name:key=value:key=value` (a variant):
 *   --policies round-robin,kv,kv-ttft,kv-delay,kv-delay:decodeOwnTime=true,kv-ttft:loadBalanceEpsilon=Infinity
 * and `queue=THRESHOLD:queuePolicy=wspt` puts the router queue in front of it: kv-delay:queue=0:queuePolicy=wspt
 * round-robin and kv are the baselines: without both, only the cells print (no verdicts, no summary).
 *
 * Options: --sim fast|exact (fast)  --inputs SUBSTRING[,…] (labels like "conversation-1 8w 4x")
 *          --tolerance 0.05  --json FILE (every metric, for the README)  --repo-requests 1000
 *          --held-out KIND:SESSIONS:SEED[,…] (instead of the 26: other generated traces, e.g. held-out checks
 *          "tool-agent:800:3,conversation:900:3", each on 8/16 workers at 1×/4×, labelled "tool-agent-3/800 8w 4x")
 *          --loads 4,1 --workers 8,16 (the grid each generated trace runs on; the repo trace keeps 8 workers)
 *          --seeds N (each policy with router tie-break seeds 0..N−1: cells and verdicts are the medians, and
 *          the summary says how often kv is "worse than kv" with another seed, the bars' own noise)
 *          --trace FILE[:REQUESTS | :FROM-TO][,…] (instead of the 26: Mooncake-format trace files, e.g. a
 *          production trace, whole, its first REQUESTS or a window of it, each on the --workers × --loads grid,
 *          labelled "mooncake_conversation_trace/3000 8w 4x" or "…/3000-6000 8w 4x")
 * Deterministic: the same command prints the same table (virtual time; load changes only how long it takes).
 */
import { writeFileSync } from 'node:fs';
import { basename } from 'node:path';
import { parseArgs } from 'node:util';
import {
  type ReplayMetrics,
  readTrace,
  runReplay,
  SESSION_TRACE_KINDS,
  type SessionTraceKind,
  sessionTrace,
  sessionTraceOptions,
  summarizeReplay,
  type TraceRecord,
} from '../src/replay/index.ts';
import type { TtftBoundReport } from '../src/replay/ttft-bound.ts';
import type { PolicyOptions, RouterQueueOptions, RouterQueuePolicy } from '../src/router/index.ts';
import { configureLogging } from '../src/util/logger.ts';
import { median } from '../src/util/stats.ts';

const { values } = parseArgs({
  options: {
    policies: { type: 'string', default: 'round-robin,kv,kv-ttft,kv-delay' },
    sim: { type: 'string', default: 'fast' },
    inputs: { type: 'string', default: '' },
    tolerance: { type: 'string', default: '0.05' },
    json: { type: 'string' },
    'repo-requests': { type: 'string', default: '1000' },
    'held-out': { type: 'string', default: '' },
    trace: { type: 'string', default: '' },
    loads: { type: 'string', default: '4,1' },
    seeds: { type: 'string', default: '1' },
    workers: { type: 'string', default: '8,16' },
  },
});
configureLogging({ level: 'error' });
const tolerance = Number(values.tolerance);
if (!(tolerance >= 0))
  throw new Error(`--tolerance takes a fraction ≥ 0 such as 0.05, got ${values.tolerance}`);
if (values.sim !== 'fast' && values.sim !== 'exact')
  throw new Error(`--sim takes fast or exact, got ${values.sim}`);
const sim = values.sim;
/** `--loads 4,2,1` and `--workers 8,12,16`: the grid every trace runs on (the study's is 4,1 × 8,16). */
function positiveList(flag: string, raw: string): number[] {
  const list = raw.split(',').map(Number);
  if (list.length === 0 || list.some((x) => !(x > 0)))
    throw new Error(`--${flag} takes positive numbers separated by commas, e.g. 4,1; got ${raw}`);
  return list;
}
const LOADS = positiveList('loads', values.loads);
const WORKERS = positiveList('workers', values.workers);
const SEEDS = Number(values.seeds);
if (!(Number.isInteger(SEEDS) && SEEDS >= 1))
  throw new Error(`--seeds takes a whole number ≥ 1, got ${values.seeds}`);

interface PolicySpec {
  label: string;
  router: string;
  options: PolicyOptions;
  /** `queue=THRESHOLD[:queuePolicy=fcfs|wspt]`: the router queue (`--router-queue-threshold`) in front of it. */
  routerQueue?: RouterQueueOptions;
}

/**
 * "kv-delay:decodeOwnTime=true:waitSlack=prompt" → router kv-delay with those options; the keys `queue` and
 * `queuePolicy` set the router queue instead ("kv-delay:queue=0:queuePolicy=wspt").
 */
function parsePolicy(spec: string): PolicySpec {
  const [router, ...pairs] = spec.split(':');
  const options: Record<string, unknown> = {};
  for (const pair of pairs) {
    const [key, raw] = pair.split('=');
    if (!key || raw === undefined) throw new Error(`policy option "${pair}" in "${spec}": write key=value`);
    options[key] =
      raw === 'true' ? true : raw === 'false' ? false : Number.isNaN(Number(raw)) ? raw : Number(raw);
  }
  const { queue, queuePolicy, ...policyOptions } = options;
  const parsed: PolicySpec = { label: spec, router: router!, options: policyOptions as PolicyOptions };
  if (queue !== undefined) {
    parsed.routerQueue = { threshold: Number(queue), policy: (queuePolicy ?? 'fcfs') as RouterQueuePolicy };
  }
  return parsed;
}

const policies = values.policies.split(',').map(parsePolicy);
/** Without both baselines (e.g. one variant confirmed with `--sim exact`) only the cells print. */
const scored = ['round-robin', 'kv'].every((base) => policies.some((p) => p.label === base));

interface Input {
  label: string;
  trace: TraceRecord[];
  workers: number;
  load: number;
}

/** The generated traces of rounds 2–4: `dhw trace generate --kind K --sessions N --seed S`. */
const GENERATED: readonly [SessionTraceKind, number][] = [
  ['conversation', 750],
  ['tool-agent', 600],
  ['shared-prefix', 1200],
];

/** `--held-out tool-agent:800:3,…`: generated traces outside the study's 26 inputs. */
function heldOut(spec: string): Input[] {
  const out: Input[] = [];
  for (const item of spec.split(',').filter((s) => s.length > 0)) {
    const [kind, sessions, seed] = item.split(':');
    if (
      !SESSION_TRACE_KINDS.includes(kind as SessionTraceKind) ||
      !(Number(sessions) > 0) ||
      seed === undefined
    )
      throw new Error(
        `--held-out takes KIND:SESSIONS:SEED[,…] with KIND one of ${SESSION_TRACE_KINDS.join(', ')}, ` +
          `e.g. tool-agent:800:3; got "${item}"`,
      );
    const opts = sessionTraceOptions(kind as SessionTraceKind, {
      sessions: Number(sessions),
      seed: Number(seed),
    });
    const trace = sessionTrace(opts);
    for (const workers of WORKERS)
      for (const load of LOADS)
        out.push({ label: `${kind}-${seed}/${sessions} ${workers}w ${load}x`, trace, workers, load });
  }
  return out;
}

/**
 * `--trace FILE[:REQUESTS | :FROM-TO],…`: trace files (a production trace the study never tuned on), whole,
 * their first REQUESTS, or requests FROM..TO−1 (0-based) with their timestamps shifted to start at 0.
 */
function traceFiles(spec: string): Input[] {
  const out: Input[] = [];
  for (const item of spec.split(',').filter((s) => s.length > 0)) {
    const [, path, count, from, to] = /^(.*?)(?::(?:(\d+)|(\d+)-(\d+)))?$/.exec(item)!;
    let trace = readTrace(path!, count ? { maxRequests: Number(count) } : {});
    const file = basename(path!).replace(/\.jsonl$/, '');
    let name = `${file}/${trace.length}`;
    if (from !== undefined) {
      if (!(Number(from) < Number(to) && Number(to) <= trace.length))
        throw new Error(
          `--trace ${item}: the range ${from}-${to} must lie within the trace's ${trace.length} requests`,
        );
      const slice = trace.slice(Number(from), Number(to));
      const start = slice[0]!.timestampMs;
      trace = slice.map((r) => ({ ...r, timestampMs: r.timestampMs - start }));
      name = `${file}/${from}-${to}`;
    }
    for (const workers of WORKERS)
      for (const load of LOADS) out.push({ label: `${name} ${workers}w ${load}x`, trace, workers, load });
  }
  return out;
}

function inputs(): Input[] {
  const wanted = values.inputs.split(',').filter((s) => s.length > 0);
  const pick = (all: Input[]) =>
    wanted.length === 0 ? all : all.filter((i) => wanted.some((w) => i.label.includes(w)));
  if (values.trace !== '') return pick(traceFiles(values.trace));
  if (values['held-out'] !== '') return pick(heldOut(values['held-out']));
  const out: Input[] = [];
  for (const [kind, sessions] of GENERATED)
    for (const seed of [1, 2]) {
      const trace = sessionTrace(sessionTraceOptions(kind, { sessions, seed }));
      for (const workers of WORKERS)
        for (const load of LOADS)
          out.push({ label: `${kind}-${seed} ${workers}w ${load}x`, trace, workers, load });
    }
  const repo = readTrace(new URL('../traces/mooncake_synthetic_trace.jsonl', import.meta.url).pathname, {
    maxRequests: Number(values['repo-requests']),
  });
  for (const load of LOADS)
    out.push({ label: `repo-${repo.length} 8w ${load}x`, trace: repo, workers: 8, load });
  return pick(out);
}

/** The figures the scorecard reads from a run (one seed's, or each one's median over the seeds). */
interface Scored {
  prefixHitRate: number | null;
  hitRateCeiling?: ReplayMetrics['hitRateCeiling'];
  ttftMs: { mean: number | null; p99: number | null };
  tpotMs: { p99: number | null };
}

/** Each figure's median over the seeds' runs (one run: that run). */
function medianOf(runs: readonly ReplayMetrics[]): Scored {
  const of = (get: (m: ReplayMetrics) => number | null | undefined) => {
    const xs = runs.map(get).filter((x): x is number => x != null);
    return xs.length === 0 ? null : median(xs);
  };
  return {
    prefixHitRate: of((m) => m.prefixHitRate),
    hitRateCeiling: runs[0]!.hitRateCeiling,
    ttftMs: { mean: of((m) => m.ttftMs.mean), p99: of((m) => m.ttftMs.p99) },
    tpotMs: { p99: of((m) => m.tpotMs.p99) },
  };
}

const pct = (x: number) => `${(x * 100).toFixed(1)} %`;
const share = (m: Scored) => (m.prefixHitRate ?? 0) / (m.hitRateCeiling?.lru || 1);
const cell = (m: Scored) =>
  `${pct(m.prefixHitRate ?? 0)} (${(share(m) * 100).toFixed(0)} %) / ${Math.round(m.ttftMs.mean ?? 0)} / ` +
  `${Math.round(m.ttftMs.p99 ?? 0)} / ${(m.tpotMs.p99 ?? 0).toFixed(1)}`;

/** The latency figures the bars compare against `kv` (and round-robin), by name. */
const FIGURES: readonly [string, (m: Scored) => number | null][] = [
  ['TTFT mean', (m) => m.ttftMs.mean],
  ['TTFT p99', (m) => m.ttftMs.p99],
  ['TPOT p99', (m) => m.tpotMs.p99],
];

/** Which of TTFT mean, TTFT p99, TPOT p99 exceed the baseline's by more than `tol`. */
function worseThan(m: Scored, base: Scored, tol: number): string[] {
  const out: string[] = [];
  for (const [name, get] of FIGURES) {
    const a = get(m);
    const b = get(base);
    if (a != null && b != null && a > b * (1 + tol)) out.push(name);
  }
  return out;
}

interface Row {
  input: Input;
  bound: TtftBoundReport;
  /** Each policy's median over the seeds. */
  runs: Map<string, Scored>;
  /** Each policy's runs, one per seed (seed 0 first). */
  seeded: Map<string, ReplayMetrics[]>;
}

const rows: Row[] = [];
const started = performance.now();
for (const input of inputs()) {
  let bound: TtftBoundReport | undefined;
  const runs = new Map<string, Scored>();
  const seeded = new Map<string, ReplayMetrics[]>();
  for (const p of policies) {
    const perSeed: ReplayMetrics[] = [];
    for (let seed = 0; seed < SEEDS; seed++) {
      const result = await runReplay(input.trace, {
        router: p.router,
        policyOptions: p.options,
        ...(p.routerQueue ? { routerQueue: p.routerQueue } : {}),
        workers: input.workers,
        timeScale: 1 / input.load,
        sim,
        seed,
      });
      perSeed.push(summarizeReplay(result));
      bound = result.ttftBound; // the same for every policy and seed (timestamp replay, aggregated)
    }
    seeded.set(p.label, perSeed);
    runs.set(p.label, medianOf(perSeed));
  }
  rows.push({ input, bound: bound!, runs, seeded });
  process.stderr.write(`${input.label} done (${((performance.now() - started) / 1000).toFixed(0)} s)\n`);
}

const candidates = scored ? policies.filter((p) => p.label !== 'round-robin' && p.label !== 'kv') : [];
console.log(
  `\nsim ${sim}; cells: prefix hit (share of the LRU ceiling) / TTFT mean / TTFT p99 / TPOT p99 (ms)` +
    `${SEEDS > 1 ? `, each the median over router seeds 0..${SEEDS - 1}` : ''}\n`,
);
console.log(
  `| input | bound: mean TTFT ≥ (infinite / LRU cache) | ÷ RR | ${policies.map((p) => p.label).join(' | ')} | ` +
    `${candidates.map((p) => `${p.label} vs kv`).join(' | ')} |`,
);
console.log(
  `|---|---:|---:|${policies.map(() => '---').join('|')}|${candidates.map(() => '---').join('|')}|`,
);
for (const { input, bound, runs } of rows) {
  const rr = runs.get('round-robin');
  const kv = runs.get('kv')!;
  const ratio = bound.infinite.meanMs / (rr?.ttftMs.mean ?? Number.NaN);
  const verdicts = candidates.map((p) => worseThan(runs.get(p.label)!, kv, tolerance).join(', ') || 'ok');
  console.log(
    `| ${input.label} | ${Math.round(bound.infinite.meanMs)} / ${Math.round(bound.lru.meanMs)} ` +
      `(alone ${Math.round(bound.infinite.aloneMs)}, pooled ${Math.round(bound.infinite.pooledMs)}) | ` +
      `${ratio.toFixed(2)} | ${policies.map((p) => cell(runs.get(p.label)!)).join(' | ')} | ${verdicts.join(' | ')} |`,
  );
}

if (scored)
  console.log(
    '\n| policy | worse than kv (> tolerance) | < 90 % of the ceiling at 4× | p99 worse than RR at 4× | ' +
      'TTFT mean ÷ RR at 4× | ≤ 0.5× RR at 4× / where the bound allows it |',
  );
if (scored) console.log('|---|---:|---:|---:|---:|---:|');
for (const p of candidates) {
  let worse = 0;
  let below = 0;
  let tails = 0;
  let half = 0;
  let reachable = 0;
  let lo = Number.POSITIVE_INFINITY;
  let hi = 0;
  let fast = 0;
  for (const { input, bound, runs } of rows) {
    const m = runs.get(p.label)!;
    const rr = runs.get('round-robin')!;
    if (worseThan(m, runs.get('kv')!, tolerance).length > 0) worse++;
    if (input.load !== 4) continue;
    fast++;
    if (share(m) < 0.9) below++;
    if (worseThan(m, rr, 0).some((w) => w.includes('p99'))) tails++;
    const r = (m.ttftMs.mean ?? 0) / (rr.ttftMs.mean ?? 1);
    lo = Math.min(lo, r);
    hi = Math.max(hi, r);
    if (r <= 0.5) half++;
    if (bound.infinite.meanMs <= 0.5 * (rr.ttftMs.mean ?? 0)) reachable++;
  }
  console.log(
    `| ${p.label} | ${worse} / ${rows.length} | ${below} / ${fast} | ${tails} | ${fast === 0 ? 'n/a' : `${lo.toFixed(2)}-${hi.toFixed(2)}`} | ` +
      `${half} / ${reachable} |`,
  );
}
if (scored && SEEDS > 1) noiseSummary();
console.log(
  `\n${rows.length} inputs × ${policies.length} policies in ${((performance.now() - started) / 1000).toFixed(1)} s`,
);

if (values.json) {
  const out = rows.map(({ input, bound, runs, seeded }) => ({
    input: input.label,
    workers: input.workers,
    load: input.load,
    bound,
    runs: Object.fromEntries(runs),
    seeds: Object.fromEntries(seeded),
  }));
  writeFileSync(
    values.json,
    `${JSON.stringify({ sim, tolerance, seeds: SEEDS, policies: values.policies, rows: out })}\n`,
  );
}

/**
 * How much of "worse than kv" is the seed: kv with seed s against kv with seed 0 (the bar's own noise),
 * and each candidate's median against kv's median and beyond kv's whole spread (every seed of it worse
 * than kv's worst seed by more than the tolerance).
 */
function noiseSummary(): void {
  let kvSelf = 0;
  for (const { seeded } of rows) {
    const kv: readonly Scored[] = seeded.get('kv')!;
    if (kv.slice(1).some((m) => worseThan(m, kv[0]!, tolerance).length > 0)) kvSelf++;
  }
  console.log(
    `\nseed noise (${SEEDS} router seeds): kv with another seed is worse than kv with seed 0 (> tolerance) on ` +
      `${kvSelf} / ${rows.length} inputs\n`,
  );
  console.log("| policy | median worse than kv median | every seed worse than kv's worst seed |");
  console.log('|---|---:|---:|');
  for (const p of candidates) {
    let onMedian = 0;
    let beyond = 0;
    for (const { seeded, runs } of rows) {
      if (worseThan(runs.get(p.label)!, runs.get('kv')!, tolerance).length > 0) onMedian++;
      const mine: readonly Scored[] = seeded.get(p.label)!;
      const kv: readonly Scored[] = seeded.get('kv')!;
      const spreadBeaten = FIGURES.some(([, get]) => {
        const least = Math.min(...mine.map((m) => get(m) ?? Number.NaN));
        const worstKv = Math.max(...kv.map((m) => get(m) ?? Number.NaN));
        return least > worstKv * (1 + tolerance);
      });
      if (spreadBeaten) beyond++;
    }
    console.log(`| ${p.label} | ${onMedian} / ${rows.length} | ${beyond} / ${rows.length} |`);
  }
}
