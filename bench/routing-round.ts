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
 * round-robin and kv are the baselines: without both, only the cells print (no verdicts, no summary).
 *
 * Options: --sim fast|exact (fast)  --inputs SUBSTRING[,…] (labels like "conversation-1 8w 4x")
 *          --tolerance 0.05  --json FILE (every metric, for the README)  --repo-requests 1000
 *          --held-out KIND:SESSIONS:SEED[,…] (instead of the 26: other generated traces, e.g. held-out checks
 *          "tool-agent:800:3,conversation:900:3", each on 8/16 workers at 1×/4×, labelled "tool-agent-3/800 8w 4x")
 * Deterministic: the same command prints the same table (virtual time; load changes only how long it takes).
 */
import { writeFileSync } from 'node:fs';
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
import type { PolicyOptions } from '../src/router/index.ts';
import { configureLogging } from '../src/util/logger.ts';

const { values } = parseArgs({
  options: {
    policies: { type: 'string', default: 'round-robin,kv,kv-ttft,kv-delay' },
    sim: { type: 'string', default: 'fast' },
    inputs: { type: 'string', default: '' },
    tolerance: { type: 'string', default: '0.05' },
    json: { type: 'string' },
    'repo-requests': { type: 'string', default: '1000' },
    'held-out': { type: 'string', default: '' },
  },
});
configureLogging({ level: 'error' });
const tolerance = Number(values.tolerance);
if (!(tolerance >= 0))
  throw new Error(`--tolerance takes a fraction ≥ 0 such as 0.05, got ${values.tolerance}`);
if (values.sim !== 'fast' && values.sim !== 'exact')
  throw new Error(`--sim takes fast or exact, got ${values.sim}`);
const sim = values.sim;

interface PolicySpec {
  label: string;
  router: string;
  options: PolicyOptions;
}

/** "kv-delay:decodeOwnTime=true:waitSlack=prompt" → router kv-delay with those options. */
function parsePolicy(spec: string): PolicySpec {
  const [router, ...pairs] = spec.split(':');
  const options: Record<string, unknown> = {};
  for (const pair of pairs) {
    const [key, raw] = pair.split('=');
    if (!key || raw === undefined) throw new Error(`policy option "${pair}" in "${spec}": write key=value`);
    options[key] =
      raw === 'true' ? true : raw === 'false' ? false : Number.isNaN(Number(raw)) ? raw : Number(raw);
  }
  return { label: spec, router: router!, options: options as PolicyOptions };
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
    for (const workers of [8, 16])
      for (const load of [4, 1])
        out.push({ label: `${kind}-${seed}/${sessions} ${workers}w ${load}x`, trace, workers, load });
  }
  return out;
}

function inputs(): Input[] {
  const wanted = values.inputs.split(',').filter((s) => s.length > 0);
  const pick = (all: Input[]) =>
    wanted.length === 0 ? all : all.filter((i) => wanted.some((w) => i.label.includes(w)));
  if (values['held-out'] !== '') return pick(heldOut(values['held-out']));
  const out: Input[] = [];
  for (const [kind, sessions] of GENERATED)
    for (const seed of [1, 2]) {
      const trace = sessionTrace(sessionTraceOptions(kind, { sessions, seed }));
      for (const workers of [8, 16])
        for (const load of [4, 1])
          out.push({ label: `${kind}-${seed} ${workers}w ${load}x`, trace, workers, load });
    }
  const repo = readTrace(new URL('../traces/mooncake_synthetic_trace.jsonl', import.meta.url).pathname, {
    maxRequests: Number(values['repo-requests']),
  });
  for (const load of [4, 1])
    out.push({ label: `repo-${repo.length} 8w ${load}x`, trace: repo, workers: 8, load });
  return pick(out);
}

const pct = (x: number) => `${(x * 100).toFixed(1)} %`;
const share = (m: ReplayMetrics) => (m.prefixHitRate ?? 0) / (m.hitRateCeiling?.lru || 1);
const cell = (m: ReplayMetrics) =>
  `${pct(m.prefixHitRate ?? 0)} (${(share(m) * 100).toFixed(0)} %) / ${Math.round(m.ttftMs.mean ?? 0)} / ` +
  `${Math.round(m.ttftMs.p99 ?? 0)} / ${(m.tpotMs.p99 ?? 0).toFixed(1)}`;

/** Which of TTFT mean, TTFT p99, TPOT p99 exceed the baseline's by more than `tol`. */
function worseThan(m: ReplayMetrics, base: ReplayMetrics, tol: number): string[] {
  const out: string[] = [];
  const check = (name: string, a: number | null | undefined, b: number | null | undefined) => {
    if (a != null && b != null && a > b * (1 + tol)) out.push(name);
  };
  check('TTFT mean', m.ttftMs.mean, base.ttftMs.mean);
  check('TTFT p99', m.ttftMs.p99, base.ttftMs.p99);
  check('TPOT p99', m.tpotMs.p99, base.tpotMs.p99);
  return out;
}

interface Row {
  input: Input;
  bound: TtftBoundReport;
  runs: Map<string, ReplayMetrics>;
}

const rows: Row[] = [];
const started = performance.now();
for (const input of inputs()) {
  let bound: TtftBoundReport | undefined;
  const runs = new Map<string, ReplayMetrics>();
  for (const p of policies) {
    const result = await runReplay(input.trace, {
      router: p.router,
      policyOptions: p.options,
      workers: input.workers,
      timeScale: 1 / input.load,
      sim,
    });
    runs.set(p.label, summarizeReplay(result));
    bound = result.ttftBound; // the same for every policy (timestamp replay, aggregated)
  }
  rows.push({ input, bound: bound!, runs });
  process.stderr.write(`${input.label} done (${((performance.now() - started) / 1000).toFixed(0)} s)\n`);
}

const candidates = scored ? policies.filter((p) => p.label !== 'round-robin' && p.label !== 'kv') : [];
console.log(
  `\nsim ${sim}; cells: prefix hit (share of the LRU ceiling) / TTFT mean / TTFT p99 / TPOT p99 (ms)\n`,
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
    `| ${p.label} | ${worse} / ${rows.length} | ${below} / ${fast} | ${tails} | ${lo.toFixed(2)}-${hi.toFixed(2)} | ` +
      `${half} / ${reachable} |`,
  );
}
console.log(
  `\n${rows.length} inputs × ${policies.length} policies in ${((performance.now() - started) / 1000).toFixed(1)} s`,
);

if (values.json) {
  const out = rows.map(({ input, bound, runs }) => ({
    input: input.label,
    workers: input.workers,
    load: input.load,
    bound,
    runs: Object.fromEntries(runs),
  }));
  writeFileSync(values.json, `${JSON.stringify({ sim, tolerance, policies: values.policies, rows: out })}\n`);
}
